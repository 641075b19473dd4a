"""`pip install .` (not editable) gives a working dadc with its data, from any folder."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("install")
    src = work / "src"
    # a copy, so the build cannot read anything that is not part of the project
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "__pycache__", "reports"))
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps",
                    str(src)], check=True, cwd=work)
    shutil.rmtree(src)  # the installed package must not need the source tree
    return venv / "bin" / "dadc"


def test_versions_from_another_folder(installed: Path, tmp_path: Path) -> None:
    out = subprocess.run([str(installed), "versions", "--format", "json"], cwd=tmp_path,
                         capture_output=True, text=True, check=True).stdout
    assert [p["version"] for p in json.loads(out)] == [1, 2, 3, 4, 5, 6, 7]


def test_schema_and_validate_from_another_folder(installed: Path, tmp_path: Path) -> None:
    schema = subprocess.run([str(installed), "schema", "v6"], cwd=tmp_path, capture_output=True,
                            text=True, check=True).stdout
    assert "StopContainersOnNewDeployment" in json.loads(schema)["properties"]
    (tmp_path / "def.json").write_text(json.dumps({"Connectors": [{
        "Id": "a", "ConnectorArn": "arn:aws:greengrass:eu-west-1::/connectors/DockerApplicationDeployment/versions/2",
        "Parameters": {"DockerComposeFileS3Bucket": "b-b", "DockerComposeFileS3Key": "k",
                       "DockerComposeFileDestinationPath": "/d", "DockerPullBeforeUp": "true"}}]}))
    proc = subprocess.run([str(installed), "validate", "def.json"], cwd=tmp_path, capture_output=True, text=True)
    assert proc.returncode == 1 and "introduced in version 5" in proc.stdout


def test_every_folder_with_python_is_an_installed_package() -> None:
    """The package list in pyproject.toml is explicit: a sub-folder left out of it is missing from
    the wheel (and from every device that installs it)."""
    import tomllib
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    roots = {folder: name for name, folder in config["package-dir"].items()}
    wanted = set()
    for folder, name in roots.items():
        for init in (ROOT / folder).rglob("*.py"):
            if "__pycache__" in init.parts:
                continue
            inner = init.parent.relative_to(ROOT / folder).parts
            wanted.add(".".join((name, *inner)))
    assert wanted - listed == set()


def test_the_installed_names_are_dadcs_own(installed: Path, tmp_path: Path) -> None:
    """`import dadc`, `python -m dadc`, `-a dadc.cfnlint`: nothing named connector or conformance
    lands at the top of site-packages, where another project's would collide."""
    python = installed.parent / "python"
    site = subprocess.run([str(python), "-c", "import dadc, sys; print(dadc.__file__)"], cwd=tmp_path,
                          capture_output=True, text=True, check=True).stdout.strip()
    packages = Path(site).parents[1]
    assert packages.name == "site-packages" and packages in Path(site).parents
    assert not (packages / "connector").exists() and not (packages / "conformance").exists()
    out = subprocess.run([str(python), "-m", "dadc", "resolve", "v5"], cwd=tmp_path, capture_output=True, text=True,
                         check=True).stdout
    assert out.startswith("version: 5\n")
    subprocess.run([str(python), "-c", "import dadc.cfnlint, dadc.conformance.runner, dadc.runtime.handlers.recovery"],
                   cwd=tmp_path, check=True)
