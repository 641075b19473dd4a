"""Image references, read as docker reads them: [REGISTRY/]REPOSITORY[:TAG][@DIGEST], where the
first path component is a registry when it has a `.` or a `:` or is `localhost`. One parser for
every place that needs a registry host, an ECR repository or a digest."""
from __future__ import annotations

import re
from dataclasses import dataclass

ECR_HOST = re.compile(r"(?P<account>\d{12})\.dkr\.ecr(-fips)?\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(\.cn)?")


@dataclass(frozen=True)
class ImageRef:
    registry: str  # host[:port]; '' for Docker Hub
    repository: str  # the path after the registry
    tag: str = ""
    digest: str = ""  # sha256:...

    @property
    def ecr(self) -> re.Match[str] | None:
        return ECR_HOST.fullmatch(self.registry) if self.registry else None

    def ecr_arn(self, partition: str) -> str | None:
        """The ECR repository's ARN, for IAM policies."""
        m = self.ecr
        return f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{self.repository}" if m else None

    @property
    def by_digest_only(self) -> str:
        """REGISTRY/REPOSITORY@DIGEST (a tag beside a digest dropped), '' without a digest."""
        if not self.digest:
            return ""
        return f"{self.registry + '/' if self.registry else ''}{self.repository}@{self.digest}"


def parse(reference: str) -> ImageRef:
    rest, _, digest = reference.partition("@")
    first, slash, path = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, name = first, path
    else:
        registry, name = "", rest
    tag = ""
    if ":" in name.rsplit("/", 1)[-1]:
        name, _, tag = name.rpartition(":")
    return ImageRef(registry, name, tag, digest)


def ecr_registries(images: tuple[str, ...] | list[str]) -> dict[str, tuple[str, str]]:
    """host -> (account, region) for every image on an ECR registry."""
    found = {}
    for image in images:
        ref = parse(image)
        m = ref.ecr
        if m:
            found[ref.registry] = (m["account"], m["region"])
    return found


def repository(reference: str) -> str:
    """REGISTRY/REPOSITORY as the engine names it: Docker Hub's `busybox` is docker.io/library/busybox."""
    ref = parse(reference)
    registry = ref.registry if ref.registry not in ("", "index.docker.io") else "docker.io"
    name = ref.repository if registry != "docker.io" or "/" in ref.repository else f"library/{ref.repository}"
    return f"{registry}/{name}"


@dataclass(frozen=True)
class LocalImage:
    id: str
    tags: tuple[str, ...]
    digests: tuple[str, ...]

    @property
    def references(self) -> tuple[str, ...]:
        return self.tags + self.digests


def prunable(local: list[LocalImage], ours: set[str], keep: set[str], in_use: set[str]) -> list[LocalImage]:
    """--prune-images: the images every reference of which is in one of the project's repositories
    (ours), that no recorded release ran (keep: image ids) and no container uses. An image with no
    reference at all (a dangling build) is nobody's to judge here; one also tagged for a repository
    the project never used belongs to someone else."""
    return [image for image in local
            if image.references and image.id not in keep and image.id not in in_use
            and all(repository(r) in ours for r in image.references)]
