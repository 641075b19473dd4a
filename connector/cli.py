"""Argument parsing and dispatch; the only place that exits.

Exit codes: 0 success; 1 findings (validate), a failed deployment, a failed conformance case;
2 bad usage or an unreadable file; 3 a conformance engine error.
"""
from __future__ import annotations

import argparse
import importlib
import sys

from dadc import options, rollout

FORMATS = ("text", "json")
# The reporter registries, spelled out so parsing arguments imports no reporter (tests keep them equal).
VALIDATE_FORMATS = ("text", "json", "junit", "sarif")
CONFORMANCE_FORMATS = ("text", "json", "junit", "markdown")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dadc", description="Docker application deployment connector")
    parser.add_argument("--version", action="version", version="dadc " + _version())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("versions", help="the compatibility matrix")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler="info:versions")

    p = sub.add_parser("resolve", help="resolve an ARN, name/versions/N, N, vN or latest")
    p.add_argument("ident")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler="info:resolve")

    p = sub.add_parser("schema", help="print a version's Parameters JSON Schema")
    p.add_argument("version")
    p.set_defaults(handler="info:schema")

    p = sub.add_parser("diff", help="what changes from version A to version B")
    p.add_argument("a", metavar="A", help="N, vN, an ARN or latest")
    p.add_argument("b", metavar="B")
    p.add_argument("--format", choices=FORMATS, default="text")
    p.set_defaults(handler="migrate:diff")

    p = sub.add_parser("upgrade", help="move the connectors of definitions to another version")
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument("--to", required=True, metavar="N", help="the version to move to: N, vN, an ARN or latest")
    p.add_argument("--check", action="store_true", help="change nothing; exit 1 if an upgrade would change a file")
    p.add_argument("--force", action="store_true", help="move a definition that does not validate, and drop "
                   "parameters the target version does not have")
    p.add_argument("--version", metavar="N", help="version of a bare Parameters object")
    p.add_argument("--connector-id", metavar="ID", help="only this connector")
    p.add_argument("--output", metavar="FILE", help="write here instead of in place ('-': stdout)")
    p.set_defaults(handler="migrate:upgrade")

    p = sub.add_parser("validate", help="validate connector definitions offline")
    p.add_argument("files", nargs="*", metavar="FILE", help="'-' reads stdin")
    p.add_argument("--format", choices=VALIDATE_FORMATS, default="text")
    p.add_argument("--strict", action="store_true", help="warnings fail too")
    p.add_argument("--ignore-checks", action="append", metavar="ID[,ID...]", help="leave out rules by id or prefix "
                   "(W4006, W, I5004,W5002; repeatable); also ignore_checks in .dadc.toml or [tool.dadc] of pyproject.toml")
    p.add_argument("--include-checks", action="append", metavar="ID[,ID...]", help="keep these although an ignore "
                   "matches (the more specific prefix wins; repeatable)")
    p.add_argument("--version", metavar="N", help="version for bare Parameters objects")
    p.add_argument("--role-policy", metavar="POLICY", help="check that this IAM policy of the group role allows "
                   "what the connector needs (a document, or `aws iam get-role-policy` output)")
    p.add_argument("--compose", metavar="FILE", help="a compose file: settings that hand a container the host "
                   "(W7001-W7007, W7010, judged on compose's own config output); with --role-policy its ECR images too")
    p.set_defaults(handler="validate:run")

    for name, help_text in (("run", "run the connector (long-lived)"),
                            ("deploy", "run the start sequence once"),
                            ("stop", "run the stop sequence"),
                            ("plan", "print the steps the version would run"),
                            ("status", "the current and the last good deployment, and the containers"),
                            ("rollback", "go back to the last good deployment")):
        p = sub.add_parser(name, help=help_text)
        options.add_arguments(p, name)
        p.set_defaults(handler=f"{'inspect' if name in ('plan', 'status') else 'runtime'}:{name}")

    p = sub.add_parser("export", help="export a connector to another platform")
    targets = p.add_subparsers(dest="target", required=True, metavar="TARGET")
    p = targets.add_parser("ggv2", help="a Greengrass V2 component recipe, a deployment, artifacts and MIGRATION.md")
    p.add_argument("definition", metavar="DEFINITION", help="a definition (file, '-', s3://BUCKET/KEY), a template, "
                   "or a bare Parameters object with --version")
    p.add_argument("--connector-id", metavar="ID", help="which connector, when the definition has several")
    p.add_argument("--version", metavar="N", help="the version of a bare Parameters object (N, vN, an ARN)")
    p.add_argument("--style", choices=("dadc", "native"), default="dadc",
                   help="dadc: the component runs dadc (the version's exact behaviour); native: docker compose "
                        "in the lifecycle, no dadc on the device")
    p.add_argument("--component-name", metavar="NAME", help="default: dadc.CONNECTOR-ID")
    p.add_argument("--component-version", metavar="X.Y.Z", default="1.0.0")
    p.add_argument("--target-arn", metavar="ARN", help="the thing or thing group to deploy to")
    p.add_argument("--posix-user", metavar="USER[:GROUP]", help="runWith.posixUser of the deployment")
    p.add_argument("--artifacts-prefix", metavar="s3://BUCKET/PREFIX/", help="where the artifacts dadc makes live")
    p.add_argument("--upload", action="store_true", help="upload them there (boto3); else write DIR/artifacts/")
    p.add_argument("--out", metavar="DIR", default="ggv2-export")
    p.add_argument("--format", choices=("yaml", "json"), default="yaml", help="the recipe's format")
    p.add_argument("--wheel", metavar="FILE", help="dadc's wheel (default: built from dadc's source tree, or the "
                   "installed dadc packed again)")
    p.add_argument("--wheelhouse", metavar="DIR", help="dadc style: the wheels dadc needs on the device's platform "
                   "(pip download -d DIR ...), shipped as artifacts: no package index on the device")
    p.add_argument("--device-index", action="store_true", help="dadc style: Install may take what is missing from "
                   "the device's package index (default: the device's own Python packages only)")
    p.add_argument("--dadc-options", metavar="OPTIONS", default="", help="dadc style: options of `dadc deploy` on the "
                   "device (DadcOptions), e.g. '--health-gate 60'; Startup's Timeout covers them")
    p.add_argument("--merge-with", metavar="FILE", help="the target's current deployment (what `aws greengrassv2 "
                   "get-deployment` prints, or an earlier deployment.json): the written deployment keeps its "
                   "components and adds or replaces this one")
    p.add_argument("--compose", metavar="FILE", help="a local copy of the compose file (default: read it from S3)")
    p.add_argument("--dependency-version", action="append", metavar="NAME=X.Y.Z",
                   help="pin a dependency's version in the deployment (default: none pinned; the nucleus's "
                        "resolver picks versions that run on the device's nucleus); repeatable")
    rollout.add_arguments(p.add_argument_group("the deployment's rollout (iotJobConfiguration; default: the "
                                               "service's own, every device at once, no abort, no timeout)"))
    p.set_defaults(handler="export:ggv2")

    from dadc.commands.fleet import add_parsers
    add_parsers(sub, FORMATS)

    p = sub.add_parser("conformance", help="run the conformance cases")
    p.add_argument("--versions", default=None, help="e.g. 1,4-6")
    p.add_argument("--scenarios", default=None, help="comma-separated scenario names")
    p.add_argument("--engine", choices=("recorded", "docker"), default="recorded")
    p.add_argument("--cases", metavar="DIR", default=None)
    p.add_argument("--compose-command", metavar="CMD", default=None,
                   help="docker engine: the real compose CLI behind the recorder (default: compose v2)")
    p.add_argument("--one-per-group", action="store_true",
                   help="of versions that share an expectation, run only the latest (CI's docker engine run)")
    p.add_argument("--format", choices=CONFORMANCE_FORMATS, default="text")
    p.set_defaults(handler="conformance:run")
    return parser


def _version() -> str:
    from dadc import __version__
    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on bad usage, 0 on --help
        return int(exc.code or 0)
    module, func = args.handler.split(":")
    handler = getattr(importlib.import_module(f"dadc.commands.{module}"), func)
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 0


def entry() -> None:
    """The `dadc` program: main(), then out without tearing the interpreter down. Once boto3 is
    loaded that teardown alone is ~0.1 s, paid by every `dadc deploy` (also each start of `dadc
    run`); everything dadc opened is closed by then (sinks, locks, files), and the streams and
    logs are flushed here."""
    import logging
    import os
    code = main()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader gone, or a stream closed
            pass
    os._exit(code)


if __name__ == "__main__":
    entry()
