"""The artifacts a recipe names: those dadc makes (its wheel, the native style's login helper, a
pinned compose file's copy), those it only points at (an unpinned compose object, images), and
how they reach S3: uploaded with boto3 to the exact URIs the recipe names (--upload), or written
to DIR/artifacts/ with the `aws s3 cp` commands in MIGRATION.md."""
from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from dadc import __version__
from dadc.errors import DadcError, InvalidParameter, SourceError
from dadc.ggv2.inputs import ExportOptions, Inputs, split_s3
from dadc.runtime.seams import process

HELPER = "registry_login.py"


@dataclass(frozen=True)
class Artifact:
    kind: str  # wheel, helper, compose (made by dadc), compose-object (pointed at), image
    uri: str
    data: bytes | None = None  # what dadc writes or uploads
    copy_from: tuple[str, str, str] | None = None  # (bucket, key, version): a server-side copy

    @property
    def name(self) -> str:
        """The file name under {artifacts:path} (Greengrass keeps an S3 artifact's last segment)."""
        return PurePosixPath(self.uri.split("://", 1)[-1]).name

    @property
    def made(self) -> bool:
        return self.data is not None or self.copy_from is not None

    def recipe_entry(self) -> dict[str, object]:
        entry: dict[str, object] = {"Uri": self.uri}
        if self.kind == "helper":
            entry["Permission"] = {"Read": "OWNER", "Execute": "OWNER"}
        return entry


def source_tree() -> Path | None:
    root = Path(__file__).resolve().parents[2]
    pyproject = root / "pyproject.toml"
    return root if pyproject.is_file() and 'name = "dadc"' in pyproject.read_text() else None


def wheel(options: ExportOptions) -> tuple[str, bytes]:
    """dadc's own wheel: --wheel, else built from the source tree dadc runs from."""
    if options.wheel:
        path = Path(options.wheel)
        if not path.is_file() or not path.name.endswith(".whl"):
            raise InvalidParameter(f"--wheel {options.wheel}: not a wheel file")
        return path.name, path.read_bytes()
    root = source_tree()
    if root is None:
        raise InvalidParameter("dadc runs from an installed package, not a source tree: give --wheel FILE "
                               f"(dadc {__version__}'s wheel, e.g. from `pip wheel --no-deps SOURCE`)")
    with tempfile.TemporaryDirectory(prefix="dadc-wheel-") as out:
        base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, str(root)]
        try:  # with what is installed (the `ggv2` extra brings `wheel`), else in pip's isolated build
            process.run(base + ["--no-build-isolation"], timeout=300, cwd=out)
        except DadcError:
            try:
                process.run(base, timeout=600, cwd=out)
            except DadcError as exc:
                raise InvalidParameter(f"cannot build dadc's wheel from {root}: {exc}; give --wheel FILE") from None
        built = sorted(Path(out).glob("dadc-*.whl"))
        if not built:
            raise InvalidParameter(f"pip built no dadc wheel from {root}; give --wheel FILE")
        return built[0].name, built[0].read_bytes()


def _prefix(options: ExportOptions, component: str, why: str) -> str:
    if not options.artifacts_prefix:
        raise InvalidParameter(f"{why}: give --artifacts-prefix s3://BUCKET/PREFIX/ (where the recipe's artifacts live)")
    bucket, prefix = split_s3(options.artifacts_prefix, "--artifacts-prefix")
    prefix = prefix.strip("/")
    return f"s3://{bucket}/" + (f"{prefix}/" if prefix else "") + f"{component}/{options.component_version}/"


def make(inputs: Inputs, options: ExportOptions, component: str) -> list[Artifact]:
    made: list[Artifact] = []
    if options.style == "dadc":
        name, raw = wheel(options)
        made.append(Artifact("wheel", _prefix(options, component, "the dadc style ships dadc's wheel") + name, raw))
        return made
    params = inputs.config.params
    bucket, key = params["DockerComposeFileS3Bucket"], params["DockerComposeFileS3Key"]
    pinned = params.get("DockerComposeFileS3Version")
    if pinned:
        # an s3:// artifact has no object version: the pinned one becomes a copy at a key that never changes
        why = (f"DockerComposeFileS3Version {pinned} pins an object version, which an s3:// artifact cannot name; "
               "it is copied to an unchanging key")
        uri = _prefix(options, component, why) + PurePosixPath(key).name
        made.append(Artifact("compose", uri, inputs.compose, (bucket, key, pinned)))
    else:
        made.append(Artifact("compose-object", f"s3://{bucket}/{key}"))
    if inputs.secrets:
        helper = (resources.files("dadc.ggv2") / HELPER).read_bytes()
        made.append(Artifact("helper", _prefix(options, component, "registry secrets need the login helper") + HELPER,
                             helper))
    made += [Artifact("image", "docker:" + image) for image in inputs.images.artifacts]
    return made


def s3_location(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://"):].partition("/")
    return bucket, key


def write(artifacts: list[Artifact], out: Path) -> list[tuple[Path, str]]:
    """Each made artifact under out/artifacts/ (its S3 key as the path); (file, uri) pairs."""
    written = []
    for a in artifacts:
        if a.data is None:
            continue
        bucket, key = s3_location(a.uri)
        path = out / "artifacts" / bucket / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(a.data)
        written.append((path, a.uri))
    return written


def upload(artifacts: list[Artifact], region: str | None) -> list[str]:
    """Put each made artifact at its URI (a pinned compose file: copy_object from that version)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from dadc.runtime.seams.aws import factory
    s3 = factory(region)().client("s3")  # type: ignore[attr-defined]
    done = []
    for a in artifacts:
        if not a.made:
            continue
        bucket, key = s3_location(a.uri)
        try:
            if a.copy_from:
                src_bucket, src_key, version = a.copy_from
                s3.copy_object(Bucket=bucket, Key=key,
                               CopySource={"Bucket": src_bucket, "Key": src_key, "VersionId": version})
            else:
                s3.put_object(Bucket=bucket, Key=key, Body=a.data)
        except (BotoCoreError, ClientError) as exc:
            raise SourceError(f"upload to {a.uri} failed: {exc}") from None
        done.append(a.uri)
    return done
