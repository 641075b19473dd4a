"""Reading a compose file safely: bounded size and alias expansion, no duplicate keys, no tags."""
from __future__ import annotations

from dataclasses import dataclass

import yaml

from connector.errors import ComposeFileError

MAX_BYTES = 4 * 1024 * 1024
MAX_NODES = 100_000  # compose v2 caps alias/node visits at the same figure


class _Loader(yaml.SafeLoader):
    """SafeLoader (no arbitrary tags) that rejects duplicate keys."""

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def]
        seen: dict[object, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, (list, dict)):
                raise ComposeFileError(f"line {key_node.start_mark.line + 1}: a mapping key must be a scalar")
            if key in seen:
                raise ComposeFileError(f"line {key_node.start_mark.line + 1}: mapping key {key!r} already "
                                       f"defined at line {seen[key]}")
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=True)


def _expanded_size(node: yaml.Node, memo: dict[int, int]) -> int:
    """Nodes a consumer that expands aliases would visit; shared nodes are counted once here."""
    if id(node) not in memo:
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = node.value
        else:
            children = []
        memo[id(node)] = 1 + sum(_expanded_size(c, memo) for c in children)
    return memo[id(node)]


@dataclass(frozen=True)
class ComposeProject:
    services: tuple[str, ...]
    images: tuple[str, ...]


def parse(raw: bytes) -> ComposeProject:
    """Check raw is one YAML mapping with a non-empty services mapping; return its images."""
    if len(raw) > MAX_BYTES:
        raise ComposeFileError(f"the compose file is larger than {MAX_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComposeFileError(f"the compose file is not UTF-8 (byte {exc.start})") from None
    loader = _Loader(text)
    try:
        node = loader.get_node() if loader.check_node() else None
        if loader.check_node():
            raise ComposeFileError("the compose file holds more than one YAML document")
        if node is not None and _expanded_size(node, {}) > MAX_NODES:
            raise ComposeFileError(f"the compose file expands to more than {MAX_NODES} nodes "
                                   "through aliases (an alias bomb?)")
        doc = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise ComposeFileError(f"the compose file is not valid YAML: {exc}".replace("\n", " ")) from None
    except RecursionError:
        raise ComposeFileError("the compose file is nested too deeply") from None
    finally:
        loader.dispose()
    if not isinstance(doc, dict):
        raise ComposeFileError("the compose file must be a YAML mapping")
    services = doc.get("services")
    if not isinstance(services, dict) or not services:
        raise ComposeFileError("the compose file has no services")
    images = []
    for name, service in services.items():
        if not isinstance(service, dict):
            raise ComposeFileError(f"service {name!r} must be a mapping")
        image = service.get("image")
        if image is not None:
            images.append(str(image))
        elif "build" not in service:
            raise ComposeFileError(f"service {name!r} has neither image nor build")
    return ComposeProject(tuple(map(str, services)), tuple(images))
