"""The conformance harness: cases are data, it passes on dadc, and it can fail."""
from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import jsonschema
import pytest

from dadc.conformance import runner
from dadc.conformance.behaviour_cases import cases_root, discover, normalise, versions_of
from dadc import cli, profiles

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"first-deploy", "redeploy-changed", "redeploy-unchanged", "stop", "restart-after-stop",
             "stop-keep-running", "pull-before-up-false", "cleanup-failure", "cleanup-failure-force-deploy",
             "pull-failure", "invalid-parameters", "invalid-compose", "private-registry-login", "ecr-login"}


def test_case_files_match_the_schema() -> None:
    schema = json.loads((cases_root() / "behaviour.schema.json").read_text())
    files = sorted((cases_root() / "behaviour").glob("*.json"))
    assert files
    for path in files:
        jsonschema.validate(json.loads(path.read_text()), schema)


def test_every_required_scenario_is_covered_for_every_version_it_applies_to() -> None:
    cases, _ = discover()
    assert {c.scenario for c in cases} >= SCENARIOS
    for scenario in ("first-deploy", "redeploy-changed", "stop", "pull-failure", "invalid-parameters",
                     "invalid-compose", "private-registry-login", "ecr-login", "cleanup-failure"):
        assert {c.version for c in cases if c.scenario == scenario} == set(profiles.known_versions()), scenario
    for scenario in ("offline-mode", "offline-mode-image-missing", "offline-mode-nothing-local", "s3-unreachable",
                     "offline-fallback-option", "login-retries"):  # version 7's additions, and both settings
        assert 7 in {c.version for c in cases if c.scenario == scenario}, scenario


@pytest.fixture(scope="module")
def recorded() -> list[runner.CaseResult]:
    return runner.run("recorded")


def test_dadc_passes_every_case_on_the_recorded_engine(recorded: list[runner.CaseResult]) -> None:
    failures = [(r.case.id, r.detail) for r in recorded if r.outcome != "pass"]
    assert failures == [] and len(recorded) >= 80


def test_a_wrong_behaviour_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    """A v5 that pulls after down (v4's order) must fail the v5 cases."""
    v4, v5 = profiles.get(4), profiles.get(5)
    wrong = dataclasses.replace(v5, start_sequence=v4.start_sequence)
    monkeypatch.setitem(profiles.registry(), 5, wrong)
    results = runner.run("recorded", versions={5}, scenarios={"redeploy-changed", "pull-failure"})
    pull_failure, redeploy = results
    assert (pull_failure.outcome, redeploy.outcome) == ("fail", "fail")
    assert redeploy.commands == ["compose down @app-v1", "compose pull @app-v2", "compose up -d @app-v2"]
    assert "running None != expected 'app-v1'" in pull_failure.detail  # the app went down before the pull


def test_an_edited_case_in_a_copied_folder_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "cases"
    shutil.copytree(cases_root(), copy)
    case_file = copy / "behaviour" / "redeploy-changed.json"
    case = json.loads(case_file.read_text())
    case["expect"]["5-"]["commands"] = list(reversed(case["expect"]["5-"]["commands"]))
    case_file.write_text(json.dumps(case))
    code = cli.main(["conformance", "--cases", str(copy), "--versions", "5-6", "--scenarios", "redeploy-changed",
                     "--format", "json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1 and [r["outcome"] for r in report["results"]] == ["fail", "fail"]


def test_cli_format_choices_are_the_reporter_registry() -> None:
    from dadc.conformance.reporters import REPORTERS
    assert tuple(REPORTERS) == cli.CONFORMANCE_FORMATS


def test_cli_formats_and_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["conformance", "--versions", "6", "--scenarios", "stop-keep-running", "--format", "junit"]) == 0
    assert "<testsuite" in capsys.readouterr().out
    assert cli.main(["conformance", "--versions", "x-y"]) == 2
    assert cli.main(["conformance", "--scenarios", "no-such-scenario"]) == 2
    assert cli.main(["conformance", "--engine", "podman"]) == 2


def test_an_engine_error_exits_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def broken(*args: object) -> None:
        raise RuntimeError("no engine here")
    monkeypatch.setattr(runner, "make_engine", broken)
    assert cli.main(["conformance", "--versions", "1", "--scenarios", "stop"]) == 3
    assert "ERROR" in capsys.readouterr().out


def test_normalise_hides_observation_and_never_shows_stdin() -> None:
    journal = ["docker\tps -a --filter label=x --format {{json .}}\t-\tno",
               "docker\t--config /d/.docker login -u u --password-stdin r:5000\t-\tyes",
               "compose\t-p p -f /d/x.yml --project-directory /d up -d\tabc\tno",
               "docker\trm -f id1 id2\t-\tno"]
    assert normalise(journal, {"abc": "app-v1"}) == ["docker login --password-stdin", "compose up -d @app-v1",
                                                      "docker rm -f"]
    assert versions_of("4") == [4] and versions_of("1-3") == [1, 2, 3]


def test_conformance_doc_is_current(recorded: list[runner.CaseResult]) -> None:
    from dadc.conformance import matrix
    assert (ROOT / "docs" / "conformance.md").read_text() == matrix.render(recorded), "run scripts/gen-docs"


def test_a_skip_is_named_counted_and_exits_3(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """A CI job built on the harness can never pass by running nothing."""
    from dadc.conformance.engines.base import Skip

    def cannot(*args: object) -> None:
        raise Skip("this engine needs a thing this machine lacks")
    monkeypatch.setattr(runner, "make_engine", cannot)
    for fmt, shows in (("text", "SKIP  v1/stop: this engine needs a thing"), ("json", '"skipped": ['),
                       ("junit", "<skipped message=\"this engine needs"), ("markdown", "- skipped v1/stop: this engine")):
        assert cli.main(["conformance", "--versions", "1", "--scenarios", "stop", "--format", fmt]) == 3
        out = capsys.readouterr().out
        assert shows in out, (fmt, out)
        if fmt in ("text", "markdown"):
            assert "1 skipped" in out and "exit 3" in out


def test_nothing_ran_exits_3() -> None:
    assert runner.exit_code([]) == 3


def test_a_scenario_whose_expectations_miss_a_version_is_a_harness_error(tmp_path: Path,
                                                                         capsys: pytest.CaptureFixture[str]) -> None:
    copy = tmp_path / "cases"
    shutil.copytree(cases_root(), copy)
    case_file = copy / "behaviour" / "stop.json"
    case = json.loads(case_file.read_text())
    newest = max(profiles.known_versions())
    case["versions"] = f"1-{newest}"
    case["expect"] = {f"1-{newest - 1}": case["expect"]["1-"]}
    case_file.write_text(json.dumps(case))
    assert cli.main(["conformance", "--cases", str(copy)]) == 3
    assert (f"expectations cover versions {list(range(1, newest))}, the scenario {list(range(1, newest + 1))}"
            in capsys.readouterr().err)


def test_the_fake_executables_answer_as_the_in_process_fake(tmp_path: Path) -> None:
    """The docker engine and the fleet bench run the fakes as programs (install_fakes); the recorded
    engine calls them behind the process seam. The same commands give the same replies, journal
    lines and state either way; and the password never reaches the journal."""
    import os
    import subprocess

    from dadc.conformance.engines import fakes
    from dadc.conformance.engines.base import install_fakes
    from dadc.runtime.seams import process

    compose = "services:\n  web:\n    image: r.example/app:1\n    labels:\n      dadc.behaviour: healthy\n"
    commands = [(["docker-compose", "-p", "p", "-f", "{dir}/c.yml", "up", "-d"], None),
                (["docker", "ps", "-q"], None), (["docker", "inspect", "recorded-web"], None),
                (["docker", "tag", "r.example/app:1", "r.example/app@sha256:" + "0" * 64], None),
                (["docker", "login", "-u", "u", "--password-stdin", "r.example"], "s3cret-password\n"),
                (["docker", "image", "inspect", "r.example/app:1", "nope:1"], None),
                (["docker-compose", "-p", "p", "-f", "{dir}/c.yml", "down"], None)]
    seen = {}
    for side in ("program", "in-process"):
        folder = tmp_path / side
        folder.mkdir()
        (folder / "c.yml").write_text(compose)
        env = {**os.environ, "DADC_JOURNAL": str(folder / "journal"), "DADC_FAKE_STATE": str(folder / "state")}
        replies = []
        for argv, stdin in commands:
            argv = [a.replace("{dir}", str(folder)) for a in argv]
            if side == "program":
                bin_dir = folder / "bin" if (folder / "bin").exists() else install_fakes(folder / "bin")
                done = subprocess.run([str(bin_dir / argv[0]), *argv[1:]], input=stdin, capture_output=True,
                                      text=True, env=env)
                replies.append((done.returncode, done.stdout, done.stderr))
            else:
                with process.substituted(fakes.call):
                    got = process.run(argv, input=stdin, env=env, check=False)
                replies.append((got.returncode, got.stdout, got.stderr))
        journal = (folder / "journal").read_text().replace(str(folder), "{dir}")
        assert "s3cret" not in journal
        seen[side] = (replies, journal, (folder / "state").read_text())
    assert seen["program"] == seen["in-process"]
    replies, journal, _ = seen["program"]
    assert [r[0] for r in replies] == [0, 0, 0, 1, 0, 1, 0]  # the digest tag and the missing image refused
    assert "\tyes\n" in journal and journal.count("\n") == len(commands)
