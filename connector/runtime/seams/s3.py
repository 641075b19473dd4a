"""The S3 seam: the compose file (capped, version-checked, whole) and, for fleets, a definition
read with a conditional request. Failures are classified: a missing object is the definition's
fault (InvalidParameter); an S3 that cannot be reached is SourceUnreachable (an offline fallback
may act); a denial or a body that is not whole is a SourceError (nothing is installed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dadc.errors import InvalidParameter, SourceError, SourceUnreachable

__all__ = ["MAX_BYTES", "Fetched", "S3", "SourceUnreachable", "read_whole"]

MAX_BYTES = 4 * 1024 * 1024  # a compose file or a definition; more is not one
CHUNK = 64 * 1024
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "InvalidArgument", "404", "InvalidBucketName"}


@dataclass(frozen=True)
class Fetched:
    raw: bytes
    version_id: str | None
    etag: str | None = None


def read_whole(body: Any, expected: int | None, where: str) -> bytes:
    """Every byte of the body, or SourceError: more than MAX_BYTES, or fewer or more bytes than
    the ContentLength S3 announced (a connection cut mid-body: a compose file cut at a line
    boundary is still valid YAML, so a short read must never pass for the file)."""
    if expected is not None and expected > MAX_BYTES:
        raise InvalidParameter(f"{where} is larger than {MAX_BYTES} bytes")
    parts: list[bytes] = []
    size = 0
    while chunk := body.read(CHUNK):
        parts.append(chunk)
        size += len(chunk)
        if size > MAX_BYTES:
            raise InvalidParameter(f"{where} is larger than {MAX_BYTES} bytes")
    raw = b"".join(parts)
    if expected is not None and len(raw) != expected:
        raise SourceError(f"{where}: S3 sent {len(raw)} of its {expected} bytes (the connection was cut); "
                          "nothing is installed")
    return raw


class S3:
    def __init__(self, client: Any) -> None:
        self.client = client

    def fetch(self, bucket: str, key: str, version: str | None, *, if_none_match: str | None = None) -> Fetched | None:
        """The object (at a version, when given); None when if_none_match is its ETag (unchanged)."""
        from botocore.exceptions import (BotoCoreError, ClientError, FlexibleChecksumError, IncompleteReadError,
                                         ResponseStreamingError)

        # ChecksumMode: botocore checks the object's checksum at the end of the body when S3 has one
        request: dict[str, Any] = {"Bucket": bucket, "Key": key, "ChecksumMode": "ENABLED"}
        if version:
            request["VersionId"] = version
        if if_none_match:
            request["IfNoneMatch"] = if_none_match
        where = f"s3://{bucket}/{key}" + (f" version {version}" if version else "")
        try:
            response = self.client.get_object(**request)
            body = response["Body"]
            try:
                raw = read_whole(body, response.get("ContentLength"), where)
            finally:
                body.close()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("304", "NotModified"):
                return None
            if code in _MISSING:
                raise InvalidParameter(f"{where}: {code}") from None
            raise SourceError(f"{where}: {code or 'error'}") from None
        except (IncompleteReadError, ResponseStreamingError) as exc:
            raise SourceError(f"{where}: the body was cut short ({type(exc).__name__}); nothing is installed") from None
        except FlexibleChecksumError as exc:
            raise SourceError(f"{where}: the body does not match its checksum ({exc}); nothing is installed") from None
        except ConnectionError as exc:
            raise SourceUnreachable(f"S3 is unreachable: {type(exc).__name__}") from None
        except BotoCoreError as exc:  # a connection, a timeout, no credentials to be had: S3 was never reached
            raise SourceUnreachable(f"S3 is unreachable: {type(exc).__name__}: {exc}") from None
        got = response.get("VersionId")
        if version and got and got != version:
            raise SourceError(f"S3 returned version {got} when {version} was asked for; not deployed")
        return Fetched(raw, got, response.get("ETag"))
