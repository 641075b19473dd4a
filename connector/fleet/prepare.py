"""A job document made ready, in a short-lived child of `dadc run --jobs` (as fetchdef.py for a
polled definition): jsonschema and boto3 are loaded here, never in the long-lived process.
`python -m dadc.fleet.prepare` reads the job document on stdin and prints one JSON line:
{"operation", "release", "raw": base64 of the definition (deploy), "healthGate", "healthStable"},
or {"error": "InvalidParameter" | KIND, "message"}: InvalidParameter is the document's fault
(the execution is REJECTED), any other kind is the device's or the network's (FAILED)."""
from __future__ import annotations

import base64
import json
import sys

from dadc import errors
from dadc.fleet import document


def prepare(text: str) -> dict[str, object]:
    doc = document.parse(text)
    out: dict[str, object] = {"operation": doc.operation, "release": doc.release,
                              "healthGate": doc.health_gate, "healthStable": doc.health_stable}
    if doc.operation != "deploy":
        return out
    if doc.inline is not None:
        raw = doc.inline.encode()
    else:
        from dadc.runtime.seams.aws import factory
        assert doc.s3 is not None
        bucket, _, key = doc.s3[len("s3://"):].partition("/")
        fetched = factory(None)().fetch(bucket, key, doc.version_id)
        assert fetched is not None  # no If-None-Match: always the object
        raw = fetched.raw
        if document.release_of(raw) != doc.release:
            raise errors.InvalidParameter(f"{doc.s3} version {doc.version_id}: its sha256 is not the job's release "
                                          f"{doc.short}: the object is not the one the job was made for")
    # the API's shape is checked here, where botocore's model costs nothing lasting; the device
    # checks the rest (its connector's parameters) as any definition's
    from dadc.validation.engine import validate_bytes
    result = validate_bytes(doc.s3 or "the job's definition", raw)
    first = next((f for f in result.findings if f.severity == "error"), None)
    if first is not None:
        raise errors.InvalidParameter(f"the definition at {first.pointer or '/'}: {first.rule} {first.message}")
    out["raw"] = base64.b64encode(raw).decode()
    return out


def main() -> int:
    try:
        answer = prepare(sys.stdin.read())
    except errors.DadcError as exc:
        kind = "InvalidParameter" if isinstance(exc, errors.InvalidParameter) else type(exc).__name__
        answer = {"error": kind, "message": str(exc)}
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
