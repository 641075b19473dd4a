"""Fetching the compose file from S3: capped, version-checked, classified failures."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.errors import InvalidParameter, SourceError
from connector.runtime.composefile import MAX_BYTES

_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "InvalidArgument", "404", "InvalidBucketName"}


@dataclass(frozen=True)
class Fetched:
    raw: bytes
    version_id: str | None


class SourceUnreachable(SourceError):
    """S3 could not be reached at all (network, endpoint down): a local copy may stand in."""


def fetch(s3: Any, bucket: str, key: str, version: str | None) -> Fetched:
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

    request = {"Bucket": bucket, "Key": key}
    if version:
        request["VersionId"] = version
    try:
        response = s3.get_object(**request)
        body = response["Body"]
        raw = body.read(MAX_BYTES + 1)
        body.close()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        where = f"s3://{bucket}/{key}" + (f" version {version}" if version else "")
        if code in _MISSING:
            raise InvalidParameter(f"{where}: {code}", code=code) from None
        raise SourceError(f"{where}: {code or 'error'}", code=code) from None
    except (EndpointConnectionError, ConnectionError) as exc:
        raise SourceUnreachable(f"S3 is unreachable: {type(exc).__name__}") from None
    except BotoCoreError as exc:
        raise SourceUnreachable(f"S3 is unreachable: {type(exc).__name__}: {exc}") from None
    if len(raw) > MAX_BYTES:
        raise InvalidParameter(f"s3://{bucket}/{key} is larger than {MAX_BYTES} bytes; "
                               "not a compose file", size=response.get("ContentLength"))
    got = response.get("VersionId")
    if version and got and got != version:
        raise SourceError(f"S3 returned version {got} when {version} was asked for; not deployed")
    return Fetched(raw, got)
