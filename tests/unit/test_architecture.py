"""The shape docs/architecture.md promises, held: no import cycle, the arrows run one way (seams
and the domain never import the orchestration; the harness never imports a CLI command), modules
stay small, names the profiles own are read from them, and every step kind has a handler, a view
and a GGv2 lifecycle (or says it is not exported)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {"connector": "dadc", "conformance": "dadc.conformance"}  # the folders, and their installed names


def _modules() -> dict[str, Path]:
    out = {}
    for folder, package in PACKAGES.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            name = ".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts)))
            out[name.rstrip(".")] = path
    return out


def _imports(path: Path, name: str) -> set[str]:
    """Every connector/conformance module this one imports, at any depth of the file."""
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            found.add(base)
            found |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in found if m.split(".")[0] == "dadc"}


MODULES = _modules()
GRAPH = {name: {m for m in _imports(path, name) if m in MODULES and m != name} for name, path in MODULES.items()}


def test_no_import_cycle() -> None:
    seen: dict[str, int] = {}  # 1 on the path, 2 done

    def visit(node: str, path: list[str]) -> None:
        seen[node] = 1
        for nxt in sorted(GRAPH[node]):
            if MODULES[nxt].name == "__init__.py" and node.startswith(nxt + "."):
                continue  # a module and its own package's (empty) __init__
            if seen.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]))
            if nxt not in seen:
                visit(nxt, path + [nxt])
        seen[node] = 2
    for name in sorted(GRAPH):
        if name not in seen:
            visit(name, [name])


@pytest.mark.parametrize(("importer", "forbidden"), [
    ("dadc.runtime.seams.", ("dadc.runtime.", "dadc.plan", "dadc.commands")),
    ("dadc.domain.", ("dadc.runtime", "dadc.validation", "dadc.commands", "dadc.ggv2", "dadc.plan")),
    ("dadc.conformance", ("dadc.commands",)),
    ("dadc.validation", ("dadc.commands", "dadc.runtime.handlers", "dadc.runtime.executor")),
])
def test_the_arrows_run_one_way(importer: str, forbidden: tuple[str, ...]) -> None:
    wrong = [(name, m) for name, deps in GRAPH.items() if name.startswith(importer)
             for m in deps if m.startswith(forbidden) and not m.startswith("dadc.runtime.seams")]
    assert wrong == []


def test_no_module_is_over_about_300_lines() -> None:
    big = {name: n for name, path in MODULES.items() if (n := len(path.read_text().splitlines())) > 330}
    assert big == {}


def test_the_project_name_and_the_status_topic_are_read_from_the_profiles_data() -> None:
    from dadc import profiles
    names = (profiles.project_name(), profiles.settings()["status_topic"])
    written = [(n, str(p.relative_to(ROOT))) for n in names for p in MODULES.values() if n in p.read_text()]
    assert written == []


def test_every_step_kind_has_a_handler_a_view_and_a_ggv2_lifecycle() -> None:
    from dadc.ggv2 import scripts
    from dadc.planview import ENDINGS, _what  # noqa: F401
    from dadc.runtime.executor import HANDLERS
    from dadc.steps import Kind
    import inspect
    view = inspect.getsource(_what)
    for kind in Kind:
        assert kind in HANDLERS, kind
        assert f"Kind.{kind.name}:" in view or kind in (Kind.PULL, Kind.DOWN, Kind.UP), f"no view of {kind}"
        assert kind in scripts.LIFECYCLE, f"{kind}: a GGv2 lifecycle, or a note that it is not exported"


def test_the_long_lived_dadc_run_loads_neither_yaml_nor_boto3() -> None:
    code = ("import sys; from dadc.runtime import lifecycle, context, sinks; "
            "print(','.join(m for m in ('yaml', 'boto3', 'botocore', 'dotenv') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert done.stdout.strip() == ""
