"""The S3 seam: the compose file (capped, version-checked) and, for fleets, a definition read
with a conditional request. Failures are classified: a missing object is the definition's
fault (InvalidParameter); an S3 that cannot be reached is SourceUnreachable."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from connector.errors import InvalidParameter, SourceError

MAX_BYTES = 4 * 1024 * 1024  # a compose file or a definition; more is not one
_MISSING = {"NoSuchKey", "NoSuchBucket", "NoSuchVersion", "InvalidArgument", "404", "InvalidBucketName"}


@dataclass(frozen=True)
class Fetched:
    raw: bytes
    version_id: str | None
    etag: str | None = None


class SourceUnreachable(SourceError):
    """S3 could not be reached at all (network, endpoint down): an offline fallback may apply."""


class S3:
    def __init__(self, client: Any) -> None:
        self.client = client

    def fetch(self, bucket: str, key: str, version: str | None, *, if_none_match: str | None = None) -> Fetched | None:
        """The object (at a version, when given); None when if_none_match is its ETag (unchanged)."""
        from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

        request = {"Bucket": bucket, "Key": key}
        if version:
            request["VersionId"] = version
        if if_none_match:
            request["IfNoneMatch"] = if_none_match
        where = f"s3://{bucket}/{key}" + (f" version {version}" if version else "")
        try:
            response = self.client.get_object(**request)
            body = response["Body"]
            raw = body.read(MAX_BYTES + 1)
            body.close()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("304", "NotModified"):
                return None
            if code in _MISSING:
                raise InvalidParameter(f"{where}: {code}", code=code) from None
            raise SourceError(f"{where}: {code or 'error'}", code=code) from None
        except (EndpointConnectionError, ConnectionError) as exc:
            raise SourceUnreachable(f"S3 is unreachable: {type(exc).__name__}") from None
        except BotoCoreError as exc:
            raise SourceUnreachable(f"S3 is unreachable: {type(exc).__name__}: {exc}") from None
        if len(raw) > MAX_BYTES:
            raise InvalidParameter(f"{where} is larger than {MAX_BYTES} bytes", size=response.get("ContentLength"))
        got = response.get("VersionId")
        if version and got and got != version:
            raise SourceError(f"S3 returned version {got} when {version} was asked for; not deployed")
        return Fetched(raw, got, response.get("ETag"))
