"""The artifacts a recipe names: those dadc makes (its wheel, the native style's login helper, a
pinned compose file's copy), those it only points at (an unpinned compose object, images), and
how they reach S3: uploaded with boto3 to the exact URIs the recipe names (--upload), or written
to DIR/artifacts/ with the `aws s3 cp` commands in MIGRATION.md."""
from __future__ import annotations

import re
import shutil
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path, PurePosixPath

from dadc import __version__
from dadc.domain.images import parse as parse_image
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
    """dadc's own wheel: --wheel; else built from the source tree dadc runs from; else the installed
    dadc packed again as a wheel (`wheel pack`), so an export works from a plain `pip install`."""
    if options.wheel:
        path = Path(options.wheel)
        if not path.is_file() or not path.name.endswith(".whl"):
            raise InvalidParameter(f"--wheel {options.wheel}: not a wheel file")
        return path.name, path.read_bytes()
    root = source_tree()
    return _built(root) if root is not None else _repacked()


def _one_wheel(out: str, where: str) -> tuple[str, bytes]:
    built = sorted(Path(out).glob("dadc-*.whl"))
    if not built:
        raise InvalidParameter(f"no dadc wheel came out of {where}; give --wheel FILE")
    return built[0].name, built[0].read_bytes()


def _built(root: Path) -> tuple[str, bytes]:
    with tempfile.TemporaryDirectory(prefix="dadc-wheel-") as out:
        base = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", out, str(root)]
        try:  # with what is installed (wheel is one of dadc's requirements), else in pip's isolated build
            process.run(base + ["--no-build-isolation"], timeout=300, cwd=out)
        except DadcError:
            try:
                process.run(base, timeout=600, cwd=out)
            except DadcError as exc:
                raise InvalidParameter(f"cannot build dadc's wheel from {root}: {exc}; give --wheel FILE") from None
        return _one_wheel(out, f"pip wheel {root}")


def _repacked() -> tuple[str, bytes]:
    """The installed distribution's files (as its RECORD lists them) under their wheel paths, packed
    by the `wheel` tool; scripts outside site-packages are left out (the wheel's entry points make
    them again), and so are the installer's own records."""
    dist = _installed()
    with tempfile.TemporaryDirectory(prefix="dadc-wheel-") as tmp:
        unpacked = Path(tmp) / f"dadc-{dist.version}"
        for f in dist.files or []:
            parts = Path(str(f)).parts
            if parts[0] == ".." or "__pycache__" in parts or f.name in _INSTALLER_RECORDS and \
                    parts[0].endswith(".dist-info"):
                continue
            target = unpacked.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(str(dist.locate_file(f))), target)
        out = Path(tmp) / "out"
        out.mkdir()  # `wheel pack` writes into -d DIR but does not make it
        try:
            process.run([sys.executable, "-m", "wheel", "pack", str(unpacked), "-d", str(out)], timeout=300, cwd=tmp)
        except DadcError as exc:
            raise InvalidParameter(f"cannot pack the installed dadc {dist.version} as a wheel: {exc}; "
                                   "give --wheel FILE") from None
        return _one_wheel(str(out), "wheel pack")


def _installed():  # -> importlib.metadata.Distribution
    """The wheel-installed distribution the running `dadc` package came from: not a `dadc.egg-info`
    left in a source folder that happens to be on sys.path (pip's in-tree build leaves one)."""
    from importlib import metadata
    import dadc
    here = Path(dadc.__file__).resolve()
    for dist in metadata.distributions(name="dadc"):
        if dist.read_text("WHEEL") is not None and Path(str(dist.locate_file("dadc/__init__.py"))).resolve() == here:
            return dist
    raise InvalidParameter(f"no installed dadc distribution holds {here}; give --wheel FILE")


_INSTALLER_RECORDS = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def wheelhouse(options: ExportOptions) -> list[tuple[str, bytes]]:
    """--wheelhouse DIR: every wheel in it (what dadc needs on the device's platform and Python)."""
    if not options.wheelhouse:
        return []
    folder = Path(options.wheelhouse)
    found = sorted(folder.glob("*.whl")) if folder.is_dir() else []
    if not found:
        raise InvalidParameter(f"--wheelhouse {options.wheelhouse}: no *.whl in it (pip download -d DIR dadc's "
                               "requirements for the device's platform and Python)")
    return [(path.name, path.read_bytes()) for path in found if not path.name.startswith("dadc-")]


# docker: artifact URIs as the nucleus parses them (DockerImageArtifactParser): a registry host,
# lower-case path components, then a tag or a digest, not both
_DOMAIN = re.compile(r"([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])(\.([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*"
                     r"[a-zA-Z0-9]))*(:[0-9]+)?")
_PATH = re.compile(r"[a-z0-9]+(([_.]|__|-*)[a-z0-9]+)*(/[a-z0-9]+(([_.]|__|-*)[a-z0-9]+)*)*")
_TAG = re.compile(r"\w[\w.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*:[0-9a-fA-F]{32,}")


def docker_uri(image: str) -> str | None:
    """The `docker:` URI the nucleus takes for image (by digest alone when the image has one: a tag
    beside a digest is refused), or None when its grammar refuses the name (the lifecycle pulls it)."""
    ref = parse_image(image)
    name = ref.by_digest_only or image
    rest = name
    if "/" in rest and ref.registry:
        host, rest = rest.split("/", 1)
        if not _DOMAIN.fullmatch(host):
            return None
    if "@" in rest:
        path, digest = rest.split("@", 1)
        ok = bool(_DIGEST.fullmatch(digest))
    elif ":" in rest:
        path, tag = rest.split(":", 1)
        ok = bool(_TAG.fullmatch(tag))
    else:
        path, ok = rest, True
    return f"docker:{name}" if ok and _PATH.fullmatch(path) else None


def _prefix(options: ExportOptions, component: str, why: str) -> str:
    if not options.artifacts_prefix:
        raise InvalidParameter(f"{why}: give --artifacts-prefix s3://BUCKET/PREFIX/ (where the recipe's artifacts live)")
    bucket, prefix = split_s3(options.artifacts_prefix, "--artifacts-prefix")
    prefix = prefix.strip("/")
    return f"s3://{bucket}/" + (f"{prefix}/" if prefix else "") + f"{component}/{options.component_version}/"


def make(inputs: Inputs, options: ExportOptions, component: str) -> list[Artifact]:
    made: list[Artifact] = []
    if options.style == "dadc":
        where = _prefix(options, component, "the dadc style ships dadc's wheel")
        name, raw = wheel(options)
        made.append(Artifact("wheel", where + name, raw))
        made += [Artifact("dependency", where + n, data) for n, data in wheelhouse(options)]
        return made
    params = inputs.config.params
    bucket, key = params["DockerComposeFileS3Bucket"], params["DockerComposeFileS3Key"]
    pinned = params.get("DockerComposeFileS3Version")
    if pinned:
        # an s3:// artifact has no object version: the pinned one becomes a copy at a key that never
        # changes (the object version's own: a second export under the prefix writes the same bytes there)
        why = (f"DockerComposeFileS3Version {pinned} pins an object version, which an s3:// artifact cannot name; "
               "it is copied to an unchanging key")
        root = _prefix(options, component, why).rsplit("/", 2)[0]
        made.append(Artifact("compose", f"{root}/compose-versions/{pinned}/{PurePosixPath(key).name}", inputs.compose,
                             (bucket, key, pinned)))
    else:
        made.append(Artifact("compose-object", f"s3://{bucket}/{key}"))
    if inputs.secrets or inputs.images.ecr:
        helper = (resources.files("dadc.ggv2") / HELPER).read_bytes()
        made.append(Artifact("helper", _prefix(options, component, "registry logins need the login helper") + HELPER,
                             helper))
    uris = [docker_uri(image) for image in inputs.images.artifacts]
    made += [Artifact("image", uri) for uri in dict.fromkeys(u for u in uris if u)]
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
