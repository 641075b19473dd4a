"""The dadc style's lifecycle steps on the device: `python -m dadc.ggv2.lifecycle STEP WORK`.

The component's configuration arrives in the environment (Setenv): DADC_PARAMETERS (the
connector's Parameters as JSON), DADC_CONNECTOR (its ARN) and DADC_OPTIONS (dadc options, as a
command line). Each step becomes one dadc command in this process's place: startup `dadc deploy`,
shutdown `dadc stop`, uninstall `dadc stop` with StopContainersOnNewDeployment taken as true (the
application is taken down: nothing manages it once the component is gone). Of DADC_OPTIONS each
command gets the options it takes (`--health-gate` is for the start, not the stop)."""
from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import fields
from pathlib import Path

COMMANDS = {"startup": "deploy", "shutdown": "stop", "uninstall": "stop"}


def options_for(command: str, argv: list[str]) -> list[str]:
    """The options of argv that `dadc COMMAND` takes; one it does not know stays (dadc refuses it)."""
    from dadc.options import RuntimeOptions, _kind
    known = {f.metadata["flag"]: f for f in fields(RuntimeOptions)}
    kept: list[str] = []
    i = 0
    while i < len(argv):
        token, i = argv[i], i + 1
        f = known.get(token.split("=", 1)[0])
        if f is None:
            kept.append(token)
            continue
        takes_value = _kind(f) != "bool" and "=" not in token
        value = argv[i:i + 1] if takes_value else []
        i += len(value)
        if command in f.metadata["commands"]:
            kept += [token, *value]
    return kept


def argv_for(step: str, work: Path, environ: dict[str, str]) -> list[str]:
    command = COMMANDS[step]
    params = json.loads(environ.get("DADC_PARAMETERS") or "{}")
    if step == "uninstall" and "StopContainersOnNewDeployment" in params:
        params["StopContainersOnNewDeployment"] = "true"
    parameters = work / "parameters.json"
    parameters.write_text(json.dumps(params))
    return [sys.executable, "-m", "dadc", command, "--parameters", str(parameters), "--version",
            environ["DADC_CONNECTOR"], "--state-dir", str(work / "state"),
            *options_for(command, shlex.split(environ.get("DADC_OPTIONS", "")))]


def main(argv: list[str]) -> None:
    if len(argv) != 2 or argv[0] not in COMMANDS:
        sys.exit("usage: python -m dadc.ggv2.lifecycle startup|shutdown|uninstall WORK_PATH")
    args = argv_for(argv[0], Path(argv[1]), dict(os.environ))
    os.execv(args[0], args)


if __name__ == "__main__":
    main(sys.argv[1:])
