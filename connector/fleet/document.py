"""The job document: what `dadc fleet rollout` puts in an AWS IoT job and a device carries out.
Its schema is schemas/job-document.json (jsonschema checks it, on the operator's machine before
CreateJob and on the device before anything runs); this module builds it and reads its meaning.

release is the sha256 of the definition's bytes: the device checks the bytes it fetched against
it, and compares it with the release it runs (a re-delivered job for that release changes nothing)."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from dadc.errors import InvalidParameter

FORMAT = "job/1"
MAX_CHARS = 32768  # CreateJob's document: "max": 32768 in botocore's iot model
INLINE_LIMIT = 16384  # beyond this a definition goes to S3: room is left for what a document grows by


def release_of(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


@dataclass(frozen=True)
class JobDocument:
    operation: str  # deploy | rollback
    release: str  # the sha256 of the definition deployed (deploy) or left (rollback)
    s3: str | None = None  # deploy: s3://BUCKET/KEY and its version id ...
    version_id: str | None = None
    inline: str | None = None  # ... or the definition's text itself
    health_gate: float | None = None
    health_stable: float | None = None

    def to_json(self) -> str:
        doc: dict[str, Any] = {"dadc": FORMAT, "operation": self.operation, "release": self.release}
        if self.s3 is not None:
            doc["definition"] = {"s3": self.s3, "versionId": self.version_id}
        elif self.inline is not None:
            doc["definition"] = {"inline": self.inline}
        if self.health_gate is not None:
            doc["healthGate"] = self.health_gate
        if self.health_stable is not None:
            doc["healthStable"] = self.health_stable
        text = json.dumps(doc, separators=(",", ":"))
        if len(text) > MAX_CHARS:
            raise InvalidParameter(f"the job document is {len(text)} characters; AWS IoT Jobs takes at most "
                                   f"{MAX_CHARS}: put the definition in S3 (--upload s3://BUCKET/PREFIX/)")
        return text

    @property
    def short(self) -> str:
        return self.release[:12]


def parse(document: Any) -> JobDocument:
    """A document as the job carries it (a JSON object, or its text): InvalidParameter says what is
    wrong and where, in words the REJECTED execution's statusDetails can carry."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except ValueError as exc:
            raise InvalidParameter(f"the job document is not JSON: {exc}") from None
    if isinstance(document, dict) and "dadc" in document and document["dadc"] != FORMAT:
        # a newer (or foreign) format: say so, rather than which of its fields this one lacks
        raise InvalidParameter(f"the job document is format {str(document['dadc'])[:40]!r}; "
                               f"this dadc reads {FORMAT!r}")
    import jsonschema

    from dadc.data import load_json
    validator = jsonschema.Draft202012Validator(load_json("schemas", "job-document.json"))
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        first = errors[0]
        where = "/" + "/".join(str(p) for p in first.absolute_path)
        raise InvalidParameter(f"the job document at {where}: {first.message}")
    definition = document.get("definition") or {}
    doc = JobDocument(document["operation"], document["release"], definition.get("s3"), definition.get("versionId"),
                      definition.get("inline"), document.get("healthGate"), document.get("healthStable"))
    if doc.inline is not None and release_of(doc.inline.encode()) != doc.release:
        raise InvalidParameter("the job document's inline definition does not match its release (sha256)")
    return doc
