"""Shared fixtures. Integration fixtures read the test bed (scripts/testbed) and its env file."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

TESTBED_ENV = Path(os.environ.get("DADC_TESTBED_DIR", "/var/lib/dadc-testbed")) / "env"
UNDER_CI = os.environ.get("CI", "").lower() == "true"
SERVICES = {"docker": None, "registry": 5000, "open registry": 5001, "ECR look-alike": 443,
            "AWS endpoint": 5555, "MQTT": 1883, "MQTT TLS": 8883}


# integration tests that use neither the engine nor the broker (a clean install with the recorded
# engine; the benches of validation and of the recorded conformance): they run beside the others
BESIDE_THE_ENGINE = ("test_clean_install.py::test_conformance_after_a_plain_install",
                     "test_bench_smoke_run[conformance.py]", "test_bench_smoke_run[validate.py]",
                     "test_bench_smoke_run[fleet_jobs.py]", "test_bench_smoke_run[fleet.py]")
# whole files whose devices are the fake engine (they share only S3 and their own broker)
BESIDE_THE_ENGINE_FILES = ("test_fleet_jobs.py",)


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook, which reads the groups
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Two groups for pytest-xdist's loadgroup: every integration test in one (they share one
    engine, one compose project and its host-wide lock, so they run one at a time), the unit tests
    in the other, which runs beside them."""
    for item in items:
        engine = "integration" in item.path.parts and not item.nodeid.endswith(BESIDE_THE_ENGINE) \
            and item.path.name not in BESIDE_THE_ENGINE_FILES
        item.add_marker(pytest.mark.xdist_group("engine" if engine else "unit"))


def _load_env() -> dict[str, str]:
    values: dict[str, str] = {}
    if TESTBED_ENV.is_file():
        for line in TESTBED_ENV.read_text().splitlines():
            if line.startswith("export ") and "=" in line:
                key, _, value = line[len("export "):].partition("=")
                values[key] = value
    return values


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def missing_services() -> list[str]:
    missing = [name for name, port in SERVICES.items() if port and not _port_open(port)]
    if not Path("/var/run/docker.sock").exists():
        missing.insert(0, "docker")
    return missing


@pytest.fixture(scope="session")
def testbed_env() -> dict[str, str]:
    """The bed's environment, applied to os.environ. Missing bed: fail under CI=true, else skip."""
    env = _load_env()
    missing = missing_services() if env else ["the test bed (no env file at %s)" % TESTBED_ENV]
    if missing:
        message = f"test bed not running: {', '.join(missing)}; start it with: sudo bash scripts/testbed"
        if UNDER_CI:
            pytest.fail(message)
        pytest.skip(message)
    os.environ.update(env)
    return env


@pytest.fixture(scope="session", autouse=True)
def _dadc_state_of_this_session(tmp_path_factory: pytest.TempPathFactory) -> None:
    """dadc's own state (--state-dir) in a folder of this session's: nothing of another run's, nor of
    this machine's /var/lib/dadc, is read (a destination's state is keyed by its path, and tests
    reuse paths). Tests that need their own set --state-dir or DADC_STATE_DIR themselves."""
    os.environ.setdefault("DADC_STATE_DIR", str(tmp_path_factory.mktemp("dadc-state")))
