"""What an export works from: one DockerApplicationDeployment connector of a definition (any
shape dadc reads), the compose file it deploys, and the images that file names.

The compose file is read from S3 at the connector's pinned version (or the newest one), or from a
local copy given with --compose: its images decide which become `docker:` artifacts and which
the token exchange role must be allowed to pull."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from dadc.domain.images import parse as parse_image
from dadc.errors import DadcError, InvalidParameter
from dadc.errors import ComposeFileError
from dadc.domain import composefile
from dadc.rollout import Rollout
from dadc.runtime import settings
from dadc.validation.engine import LocatedConnector

STYLES = ("dadc", "native")
FORMATS = ("yaml", "json")
SEMVER = re.compile(r"\d+\.\d+\.\d+")
NAME = re.compile(r"[a-zA-Z0-9._-]{1,128}")  # the recipe schema's ComponentName
POSIX_USER = re.compile(r"[a-z_][a-z0-9_-]*[$]?(:[a-z_][a-z0-9_-]*[$]?)?|\d+(:\d+)?")
OTHER_CONNECTOR = "I1006"


@dataclass(frozen=True)
class ExportOptions:
    style: str = "dadc"
    component_name: str | None = None
    component_version: str = "1.0.0"
    target_arn: str | None = None
    posix_user: str | None = None
    artifacts_prefix: str | None = None  # s3://BUCKET/PREFIX/
    upload: bool = False
    fmt: str = "yaml"
    wheel: str | None = None  # dadc's wheel (default: built from the source tree, or the installed dadc's)
    compose: str | None = None  # a local copy of the compose file (instead of reading S3)
    wheelhouse: str | None = None  # a folder of the wheels dadc needs on the device, made artifacts
    device_index: bool = False  # the dadc style's Install may use the device's package index
    merge_with: str | None = None  # the target's current deployment, which the written one revises
    dadc_options: str = ""  # the dadc style's DadcOptions (--health-gate 60 ...)
    rollout: Rollout = Rollout()  # the deployment's iotJobConfiguration (--rate, --abort-failed-percent ...)

    def check(self) -> None:
        if self.style not in STYLES:
            raise InvalidParameter(f"--style {self.style!r}: one of {', '.join(STYLES)}")
        if not SEMVER.fullmatch(self.component_version):
            raise InvalidParameter(f"--component-version {self.component_version!r}: give MAJOR.MINOR.PATCH")
        if self.component_name is not None and not NAME.fullmatch(self.component_name):
            raise InvalidParameter(f"--component-name {self.component_name!r}: letters, digits, '.', '_', '-' "
                                   "(at most 128)")
        if self.posix_user is not None and not POSIX_USER.fullmatch(self.posix_user):
            raise InvalidParameter(f"--posix-user {self.posix_user!r}: give USER or USER:GROUP")
        if self.artifacts_prefix is not None:
            split_s3(self.artifacts_prefix, "--artifacts-prefix")
        if self.upload and not self.artifacts_prefix:
            raise InvalidParameter("--upload needs --artifacts-prefix s3://BUCKET/PREFIX/")
        if self.style == "native" and (self.wheelhouse or self.device_index or self.dadc_options):
            raise InvalidParameter("--wheelhouse, --device-index and --dadc-options are for --style dadc")
        if self.wheelhouse and self.device_index:
            raise InvalidParameter("--wheelhouse or --device-index: the wheels come from one place")


def split_s3(url: str, what: str) -> tuple[str, str]:
    m = re.fullmatch(r"s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/?(.*)", url)
    if not m:
        raise InvalidParameter(f"{what} {url!r}: give s3://BUCKET/PREFIX/")
    return m[1], m[2]


@dataclass(frozen=True)
class Images:
    """The compose file's images, by who pulls them on a V2 device: ECR and public images are
    `docker:` artifacts (DockerApplicationManager pulls them, logging in to ECR only); with
    registry secrets every other image is pulled by the lifecycle after its logins, since
    which registry a secret opens is only known on the device."""

    ecr: tuple[str, ...] = ()
    public: tuple[str, ...] = ()
    registry: tuple[str, ...] = ()  # behind a secret's registry (or public: not known offline)
    registry_services: tuple[str, ...] = ()
    pulled_services: tuple[str, ...] = ()  # every service with a registry image (DockerPullBeforeUp's pull)
    built: tuple[str, ...] = ()  # a service with `build:` (with or without an image), or an image named with ${VAR}
    unknown: str = ""  # why the images are not known (no compose file read)

    @property
    def artifacts(self) -> tuple[str, ...]:
        return self.ecr + self.public

    @property
    def all(self) -> tuple[str, ...]:
        return self.ecr + self.public + self.registry


@dataclass(frozen=True)
class Inputs:
    config: settings.Config
    connector: LocatedConnector
    source: str
    others: tuple[str, ...]  # the other connectors of the definition, left out
    compose: bytes | None
    compose_from: str  # where the compose file was read, or why it was not
    images: Images = field(default_factory=Images)

    @property
    def connector_id(self) -> str:
        return self.connector.id or "DockerApplicationDeployment"

    @property
    def version(self) -> int:
        return self.config.profile.version

    @property
    def partition(self) -> str:
        return (self.connector.ref.partition if self.connector.ref else None) or "aws"

    @property
    def arn(self) -> str:
        ref = self.connector.ref
        if ref and ref.arn:
            return ref.arn
        region = self.config.region or "us-east-1"
        return f"arn:{self.partition}:greengrass:{region}::/connectors/DockerApplicationDeployment/versions/{self.version}"

    @property
    def secrets(self) -> list[str]:
        return self.config.secret_arns()

    def flag(self, name: str) -> bool:
        return self.config.profile.flag(self.config.params, name)

    def value(self, name: str) -> str | None:
        return self.config.value(name)


def images_of(raw: bytes, with_secrets: bool) -> Images:
    doc = composefile.load(raw)
    services = doc.get("services") if isinstance(doc, dict) else None
    if not isinstance(services, dict):
        return Images(unknown="the compose file has no services")
    ecr, public, registry, pulled, built, every = [], [], [], [], [], []
    for name, spec in services.items():
        image = spec.get("image") if isinstance(spec, dict) else None
        # built on the device (with build:, an image names what up builds, as compose's pull leaves
        # it to up), or interpolated there: neither a docker: artifact nor Startup's pull
        if not isinstance(image, str) or "$" in image or (isinstance(spec, dict) and "build" in spec):
            built.append(str(name) + (f" ({image})" if isinstance(image, str) else ""))
            continue
        every.append(str(name))
        if parse_image(image).ecr:
            ecr.append(image)
        elif with_secrets:
            registry.append(image)
            pulled.append(str(name))
        else:
            public.append(image)
    return Images(*(tuple(dict.fromkeys(x)) for x in (ecr, public, registry, pulled, every, built)))


def gather(name: str, raw: bytes, *, connector_id: str | None, version: str | None, bare: bool,
           options: ExportOptions) -> Inputs:
    config, connector, result = settings.located(name, raw, version=version, connector_id=connector_id, bare=bare)
    others = tuple(f.message.split(" is another connector")[0] for f in result.findings if f.rule == OTHER_CONNECTOR)
    compose, compose_from = _compose(config, options)
    try:
        images = images_of(compose, bool(config.secret_arns())) if compose is not None else Images(unknown=compose_from)
    except ComposeFileError as exc:
        raise InvalidParameter(f"{compose_from}: {exc}") from None
    return Inputs(config, connector, name, others, compose, compose_from, images)


def _compose(config: settings.Config, options: ExportOptions) -> tuple[bytes | None, str]:
    if options.compose:
        try:
            return Path(options.compose).read_bytes(), options.compose
        except OSError as exc:
            raise InvalidParameter(f"--compose {options.compose}: {exc.strerror}") from None
    bucket = config.params["DockerComposeFileS3Bucket"]
    key = config.params["DockerComposeFileS3Key"]
    pinned = config.params.get("DockerComposeFileS3Version")
    where = f"s3://{bucket}/{key}" + (f" (version {pinned})" if pinned else "")
    from dadc.runtime.seams.aws import factory
    try:
        fetched = factory(config.region)().fetch(bucket, key, pinned)
    except DadcError as exc:
        return None, f"{where} could not be read ({exc}); give --compose FILE"
    assert fetched is not None  # no If-None-Match: always bytes
    return fetched.raw, where
