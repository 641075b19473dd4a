"""Committed generated files are current, and the schemas agree with the validator."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from dadc import schemagen
from dadc.validation import rulesdoc
from dadc.conformance.validation_cases import discover

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", sorted(schemagen.all_schemas()))
def test_schema_file_is_current(name: str) -> None:
    assert (ROOT / "schemas" / name).read_text() == schemagen.all_schemas()[name], "run scripts/gen-schemas"


def test_rules_doc_is_current() -> None:
    assert (ROOT / "docs" / "rules.md").read_text() == rulesdoc.render(), "run scripts/gen-docs"


def test_systemd_unit_is_current_and_lists_every_option_of_run() -> None:
    """The unit's example comes from the same options as the CLI and the deploy child."""
    from dadc import cli, options
    text = (ROOT / "systemd" / "dadc.service").read_text()
    assert text == options.systemd_unit(), "run scripts/gen-docs"
    flags = {f for a in cli.build_parser()._subparsers._group_actions[0].choices["run"]._actions
             for f in a.option_strings if a.help != "==SUPPRESS==" and f.startswith("--")}
    listed = {flag for flag in flags if f"#   {flag}" in text} | {"--definition", "--log-file", "--help"}
    assert flags <= listed, flags - listed


def test_the_deploy_child_gets_every_option_it_takes_from_the_same_fields() -> None:
    from dadc.options import RuntimeOptions
    opts = RuntimeOptions(definition="/d.json", connector_id="c", stop_timeout=3.0, offline_fallback=True,
                          mqtt="mqtt://b", retry=True, log_file="/l")
    argv = opts.child_argv(compose_command="docker compose")
    assert argv == ["--definition", "/d.json", "--connector-id", "c", "--compose-command", "docker compose",
                    "--stop-timeout", "3", "--log-file", "/l", "--offline-fallback"]
    from dadc import cli
    parsed = cli.build_parser().parse_args(["deploy", "--under-run", *argv])
    assert RuntimeOptions.from_namespace(parsed) == RuntimeOptions(
        definition="/d.json", connector_id="c", stop_timeout=3.0, offline_fallback=True, log_file="/l",
        compose_command="docker compose", under_run=True)


def _registry() -> "jsonschema.protocols.Validator":
    from referencing import Registry, Resource
    resources = [(doc["$id"], Resource.from_contents(doc))
                 for doc in (json.loads(t) for t in schemagen.all_schemas().values())]
    registry = Registry().with_resources(resources)
    definition = json.loads(schemagen.all_schemas()["connector-definition.json"])
    return jsonschema.Draft202012Validator(definition, registry=registry)


@pytest.mark.parametrize("case", [c for c in discover() if "document" in c.spec and "version" not in c.spec
                                  and isinstance(c.spec["document"], dict) and "Connectors" in c.spec["document"]],
                         ids=lambda c: c.name)
def test_the_schemas_fail_exactly_what_they_can_express(case) -> None:  # type: ignore[no-untyped-def]
    """A document with an error the schemas enforce (docs/rules.md) fails them; one whose
    errors (if any) only `dadc validate` can see passes them."""
    from dadc.validation.findings import REGISTRY
    schema_errors = [e.message for e in _registry().iter_errors(case.spec["document"])]
    enforced = [e["rule"] for e in case.spec["expected"]
                if e["rule"][0] == "E" and REGISTRY[e["rule"]].in_schemas == "yes"]
    if enforced:
        assert schema_errors, (case.name, enforced)
    else:
        assert schema_errors == [], (case.name, schema_errors)


def test_secret_lists_and_uids_in_the_schemas() -> None:
    """What contentSchema could only annotate, the schemas now check."""
    import re
    v7 = json.loads(schemagen.all_schemas()["parameters-v7.json"])["properties"]
    secrets = re.compile(v7["AWSSecretsArnList"]["pattern"])
    good = "arn:aws:secretsmanager:us-east-1:123456789012:secret:greengrass-reg-AbCdEf"
    assert secrets.search(json.dumps([good, good.replace("reg", "other")]))
    assert secrets.search("[]") and secrets.search(" [ ] ")
    for bad in ('["arn:aws:secretsmanager:region:account-id:secret:x-hash"]', json.dumps(good), "[1]",
                json.dumps([good])[:-1], json.dumps(["arn:aws:ssm:us-east-1:123456789012:parameter/x"])):
        assert not secrets.search(bad), bad
    uid = re.compile(v7["DockerUserId"]["pattern"])
    assert uid.search("4294967294") and uid.search("0") and not uid.search("4294967295")
