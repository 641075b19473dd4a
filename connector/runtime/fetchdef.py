"""The conditional GET of an S3 definition, in a short-lived child of `dadc run`: the long-lived
process never loads boto3 (its steady memory stays that of a local definition), and each poll
costs one child's start-up instead. Run as `python -m dadc.runtime.fetchdef URL ETAG`; one
JSON line on stdout: {"changed": false} (304), {"changed": true, "etag": ..., "raw": base64}, or
{"error": KIND, "message": ...} with KIND one of the dadc error classes the parent re-raises."""
from __future__ import annotations

import base64
import json
import sys

from dadc import errors

KINDS = {cls.__name__: cls for cls in (errors.SourceUnreachable, errors.Unreachable, errors.SourceError,
                                       errors.InvalidParameter, errors.InternalError)}


def main(argv: list[str]) -> int:
    url, etag = argv[0], argv[1] or None
    bucket, _, key = url[len("s3://"):].partition("/")
    try:
        from dadc.runtime.seams.aws import factory
        fetched = factory(None)().fetch(bucket, key, None, if_none_match=etag)
    except errors.DadcError as exc:
        kind = next((name for name, cls in KINDS.items() if isinstance(exc, cls)), "InternalError")
        print(json.dumps({"error": kind, "message": str(exc)}))
        return 0
    if fetched is None:
        print(json.dumps({"changed": False}))
    else:
        print(json.dumps({"changed": True, "etag": fetched.etag,
                          "raw": base64.b64encode(fetched.raw).decode()}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
