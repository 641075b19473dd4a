"""Every bench runs, as a smoke run: the smallest sizes, on the test bed, each must finish and print
its README row. Nothing here is timed: the figures come from full runs (README, "Figures")."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SMOKE = {  # bench -> the arguments of its smallest run
    "conformance.py": [],
    "validate.py": ["1"],
    "deploy_speed.py": ["1"],
    "rollback.py": ["1"],
    "run_memory.py": ["3", "plain"],
    "monitor_cpu.py": ["3", "2"],
    "fleet.py": ["2", "5"],
    "fleet_jobs.py": ["3", "50", "2"],
    "soak": ["3", "plain"],
}


def test_every_bench_has_a_smoke_run() -> None:
    benches = {p.name for p in (ROOT / "bench").iterdir() if p.is_file() and not p.name.startswith(".")}
    assert benches - {"common.py"} == set(SMOKE)


@pytest.mark.parametrize("bench", sorted(SMOKE))
def test_bench_smoke_run(bench: str, testbed_env: dict[str, str]) -> None:
    program = [sys.executable] if bench.endswith(".py") else ["bash"]
    env = dict(os.environ)
    broker = None
    if bench == "fleet.py":  # beside the engine tests: a broker of its own (bench/fleet.py says why)
        from tests.integration.faults import Broker, free_port
        broker = Broker(free_port())
        broker.start()
        env["DADC_FLEET_MQTT_PORT"] = str(broker.port)
    try:
        done = subprocess.run([*program, str(ROOT / "bench" / bench), *SMOKE[bench]], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
    finally:
        if broker is not None:
            broker.stop()
    assert done.returncode == 0, done.stderr[-2000:]
    rows = [line for line in done.stdout.splitlines() if line.startswith("| ") and line.endswith(" |")]
    assert rows, done.stdout[-2000:]
