"""The runtime options, written once: each field of RuntimeOptions carries its flag, help and
where it applies. The CLI's arguments, the deploy child's command line (`dadc run` starts
`dadc deploy` for each start sequence) and the systemd unit's example are derived from it.
"""
from __future__ import annotations

import argparse
from dataclasses import MISSING, Field, dataclass, field, fields
from typing import Any

from dadc.errors import UsageError

RUNTIME_COMMANDS = ("run", "deploy", "stop", "plan", "status", "rollback")
ALL = frozenset(RUNTIME_COMMANDS)
STARTS = frozenset({"run", "deploy", "plan"})  # commands that run (or print) a start sequence
MQTT = frozenset({"run", "deploy"})


def opt(flag: str, help: str, *, default: Any = None, metavar: str | None = None,
        commands: frozenset[str] = ALL, child: bool = True, extension: bool = False,
        hidden: bool = False, group: str = "connector", choices: tuple[str, ...] | None = None) -> Any:
    """A field with its CLI metadata. child: passed on to the deploy child of `dadc run`;
    extension: goes further than the versions' documentation (listed by `dadc plan`)."""
    return field(default=default, metadata={
        "flag": flag, "help": help, "metavar": metavar, "commands": commands, "child": child,
        "extension": extension, "hidden": hidden, "group": group, "choices": choices})


@dataclass(frozen=True)
class RuntimeOptions:
    # --- where the connector definition comes from
    definition: str | None = opt("--definition", "the connector definition: a file of any accepted shape, or "
                                 "s3://BUCKET/KEY", metavar="FILE|s3://BUCKET/KEY", group="definition")
    parameters: str | None = opt("--parameters", "a bare Parameters object (with --version)", metavar="FILE",
                                 group="definition")
    version: str | None = opt("--version", "version for --parameters: N, vN, an ARN or latest", metavar="IDENT",
                              group="definition")
    connector_id: str | None = opt("--connector-id", "which connector of the definition, when it has several",
                                   metavar="ID", group="definition")
    poll: float | None = opt("--poll", "read the definition again at least every SECONDS (each wait 80-100%% of it) and deploy it "
                             "when it changed; SIGHUP reads it at once (default: 300 for s3://, else only on SIGHUP)",
                             metavar="SECONDS", commands=frozenset({"run"}), child=False, group="definition")
    state_dir: str | None = opt("--state-dir", "where dadc keeps its own state, out of the application's reach: "
                                "what is installed, the release history, the last good S3 definition for a device "
                                "that boots offline (default: $DADC_STATE_DIR, else /var/lib/dadc as root, else "
                                "~/.local/state/dadc)", metavar="DIR", group="definition")
    destination: str | None = opt("--destination", "use DIR instead of DockerComposeFileDestinationPath (a device "
                                  "whose folder differs from the group's definition); the compose project stays "
                                  "the connector's, so one dadc per engine", metavar="DIR",
                                  extension=True, group="definition")
    # --- how dadc runs the version
    compose_command: str | None = opt("--compose-command", "the compose CLI, e.g. 'docker compose' or "
                                      "/usr/bin/docker-compose (default: the plugin, else docker-compose)",
                                      metavar="CMD")
    stop_timeout: float | None = opt("--stop-timeout", "limit for each down (default: the version's 600 s)",
                                     metavar="SECONDS", commands=ALL - {"status"})
    log_file: str | None = opt("--log-file", "also log here (logs always go to stderr)", metavar="FILE",
                               commands=ALL - {"status", "plan"})
    compose_env: tuple[str, ...] = opt("--compose-env", "pass this variable of dadc's environment on to docker and "
                                       "compose, for ${NAME} in compose files (repeatable); only PATH, locale, proxy, "
                                       "DOCKER_* and COMPOSE_* pass otherwise, never AWS credentials",
                                       default=(), metavar="NAME", commands=STARTS | {"stop", "rollback"})
    compose_env_file: str | None = opt("--compose-env-file", "a file of variable names for --compose-env, one a "
                                       "line", metavar="FILE", commands=STARTS | {"stop", "rollback"}, child=False)
    format: str = opt("--format", "plan: every step and recovery sequence, in full, with the facts it rests on; "
                      "status: the deployment, the history and the containers", default="text",
                      commands=frozenset({"plan", "status"}), child=False, choices=("text", "json"))
    to: str | None = opt("--to", "the release to go back to: its number in `dadc status`'s history, or its "
                         "compose file's sha256 prefix (default: the good one before the current)", metavar="REF",
                         commands=frozenset({"rollback", "plan"}), child=False)
    # --- dadc's extensions: off unless asked for
    offline_fallback: bool = opt("--offline-fallback", "when S3 or the registry cannot be reached, deploy the "
                                 "local copy on local images (version 7's DockerOfflineMode, for any version)",
                                 default=False, commands=STARTS, extension=True, group="extensions")
    health_gate: float | None = opt("--health-gate", "after the start sequence, every service must be running "
                                    "(healthy where it has a healthcheck) and stay so, within SECONDS; a release "
                                    "that fails is rolled back as a whole to the last good deployment",
                                    metavar="SECONDS", commands=frozenset({"run", "deploy", "plan", "rollback"}),
                                    extension=True, group="extensions")
    health_stable: float = opt("--health-stable", "with --health-gate: how long every service must stay up "
                               "(default 10)", default=10.0, metavar="SECONDS",
                               commands=frozenset({"run", "deploy", "plan", "rollback"}), group="extensions")
    prefetch: bool = opt("--prefetch", "pull the new release's images (logins done) before the previous release is "
                         "stopped, so an unreachable registry fails the start while the old release still runs: "
                         "what the version pulls after the stop, else only the images the engine lacks",
                         default=False, commands=STARTS, extension=True, group="extensions")
    prune_images: bool = opt("--prune-images", "after a successful start, remove the images of the project's "
                             "repositories that no recorded release runs (never a rollback target's, never one a "
                             "container uses, never one tagged for another repository) and log the space freed",
                             default=False, commands=STARTS, extension=True, group="extensions")
    grant_docker_group: bool = opt("--grant-docker-group", "run docker as DockerUserId with the docker group even "
                                   "when that user is not a member (the documentation requires membership)",
                                   default=False, extension=True, group="extensions", commands=ALL - {"status"})
    retry: bool = opt("--retry", "retry a failed start (InternalError) with capped exponential backoff and "
                      "jitter", default=False, commands=frozenset({"run", "plan"}), child=False, extension=True,
                      group="extensions")
    # --- a fleet: AWS IoT Jobs (fleet/device.py)
    jobs: bool = opt("--jobs", "take releases from AWS IoT Jobs over the --mqtt broker (the jobs topics of "
                     "--thing-name): each job's definition is a new deployment, its verdict the job's result; "
                     "--definition, if given, runs until the first job", default=False,
                     commands=frozenset({"run"}), child=False, extension=True, group="fleet")
    thing_name: str | None = opt("--thing-name", "with --jobs: this device's IoT thing (also the jobs "
                                 "connection's client id)", metavar="NAME", commands=frozenset({"run"}),
                                 child=False, group="fleet")
    # --- the status topic
    mqtt: str | None = opt("--mqtt", "publish status to mqtt://HOST[:PORT] or mqtts://HOST[:PORT] "
                           "(default: JSON lines on stdout)", metavar="URL", commands=MQTT, child=False,
                           group="status")
    mqtt_ca: str | None = opt("--mqtt-ca", "CA bundle that signed the broker's certificate", metavar="FILE",
                              commands=MQTT, child=False, group="status")
    mqtt_cert: str | None = opt("--mqtt-cert", "client certificate, for mutual TLS", metavar="FILE",
                                commands=MQTT, child=False, group="status")
    mqtt_key: str | None = opt("--mqtt-key", "the client certificate's private key (unencrypted)",
                               metavar="FILE", commands=MQTT, child=False, group="status")
    mqtt_alpn: str | None = opt("--mqtt-alpn", "TLS ALPN protocols, comma-separated (AWS IoT Core on port "
                                "443: x-amzn-mqtt-ca)", metavar="PROTO", commands=MQTT, child=False,
                                group="status")
    mqtt_client_id: str | None = opt("--mqtt-client-id", "default: dadc-DEVICE-HASH, from the host (or "
                                     "--device-id) and the destination folder", metavar="ID", commands=MQTT,
                                     child=False, group="status")
    device_id: str | None = opt("--device-id", "this device's name in a fleet: in the client id, and in "
                                "--status-topic-prefix (default: the host name)", metavar="NAME", commands=MQTT,
                                child=False, group="status")
    status_topic_prefix: str | None = opt("--status-topic-prefix", "put this before the documented status topic; "
                                          "{device} becomes --device-id, e.g. things/{device}/ (AWS IoT policies "
                                          "scope topics per thing)", metavar="PREFIX", commands=MQTT, child=False,
                                          group="status")
    mqtt_username: str | None = opt("--mqtt-username", "user name; the password comes from "
                                    "--mqtt-password-file or $DADC_MQTT_PASSWORD, never the command line",
                                    metavar="NAME", commands=MQTT, child=False, group="status")
    mqtt_password_file: str | None = opt("--mqtt-password-file", "a file holding the MQTT password",
                                         metavar="FILE", commands=MQTT, child=False, group="status")
    # --- internal: `dadc run` starts `dadc deploy --under-run` while it holds the lock
    under_run: bool = opt("--under-run", "", default=False, commands=frozenset({"deploy"}), child=False,
                          hidden=True)
    # set by `dadc run` for one start (child_argv's overrides), never by a user
    after_stop: bool = opt("--after-stop", "", default=False, commands=frozenset({"deploy"}), hidden=True)
    prefetch_only: bool = opt("--prefetch-only", "", default=False, commands=frozenset({"deploy"}), hidden=True)
    retry_base: float = opt("--retry-base", "", default=2.0, commands=frozenset({"run", "plan"}), child=False,
                            hidden=True)
    retry_cap: float = opt("--retry-cap", "", default=300.0, commands=frozenset({"run", "plan"}), child=False,
                           hidden=True)

    @classmethod
    def from_namespace(cls, args: argparse.Namespace) -> "RuntimeOptions":
        values = {f.name: getattr(args, f.name, None) for f in fields(cls)}
        return cls(**{f.name: _default(f) if values[f.name] is None else
                      tuple(values[f.name]) if isinstance(values[f.name], list) else values[f.name]
                      for f in fields(cls)})

    def extensions(self) -> list[str]:
        """The dadc extensions this run turns on, as flags."""
        return [_render(f, getattr(self, f.name)) for f in fields(self)
                if f.metadata["extension"] and getattr(self, f.name) not in (None, False)]

    def child_argv(self, **overrides: Any) -> list[str]:
        """The command line of the deploy child, from the same fields."""
        argv: list[str] = []
        for f in fields(self):
            value = overrides.get(f.name, getattr(self, f.name))
            if f.metadata["child"] and "deploy" in f.metadata["commands"] and value not in (None, False) \
                    and value != _default(f):
                if isinstance(value, tuple):
                    argv += [part for item in value for part in (f.metadata["flag"], str(item))]
                else:
                    argv += _render(f, value).split(" ", 1) if not isinstance(value, bool) else [f.metadata["flag"]]
        return argv


def _default(f: Field[Any]) -> Any:
    return None if f.default is MISSING else f.default


def _kind(f: Field[Any]) -> str:
    return str(f.type).replace(" | None", "")


def _render(f: Field[Any], value: Any) -> str:
    if isinstance(value, bool):
        return f.metadata["flag"]
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{f.metadata['flag']} {text}"


def add_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    """The options of one runtime command; --definition and --parameters exclude each other."""
    groups: dict[str, Any] = {"definition": parser.add_argument_group("definition")}
    # `dadc run --jobs` may start with no definition: its releases come from jobs (checked in run)
    source = groups["definition"].add_mutually_exclusive_group(required=command != "run")
    for f in fields(RuntimeOptions):
        meta = f.metadata
        if command not in meta["commands"]:
            continue
        if meta["flag"] in ("--definition", "--parameters"):
            target = source
        else:
            title = meta["group"]
            if title not in groups:
                groups[title] = parser.add_argument_group(title) if title != "connector" else parser
            target = groups[title]
        kind = _kind(f)
        kwargs: dict[str, Any] = {"dest": f.name, "help": argparse.SUPPRESS if meta["hidden"] else meta["help"]}
        if kind == "bool":
            kwargs.update(action="store_true", default=_default(f))
        elif kind.startswith("tuple"):
            kwargs.update(action="append", default=None, metavar=meta["metavar"])
        else:
            kwargs.update(type={"float": float, "int": int}.get(kind, str), default=_default(f),
                          metavar=meta["metavar"])
            if meta["choices"]:
                kwargs.update(choices=meta["choices"])
        target.add_argument(meta["flag"], **kwargs)


class _Refusing(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(message)


def parse_runtime(argv: list[str], command: str = "deploy") -> RuntimeOptions:
    """Runtime options written as a command line (a GGv2 component's DadcOptions): the same parser,
    so what the device's dadc would refuse is refused here first."""
    parser = _Refusing(prog=f"dadc {command}", add_help=False)
    add_arguments(parser, command)
    return RuntimeOptions.from_namespace(parser.parse_args([*argv, "--parameters", "-"]))


STOP_MARGIN = 60  # beyond the stop limit: the MQTT sink's last wait for acks (10 s) and the exit, with room


def systemd_unit() -> str:
    """systemd/dadc.service, with every option of `dadc run` listed from the same fields, and its
    stop timeout from the versions' stop limits: SIGTERM interrupts a start, and the whole stop
    (the interrupt, down, the report) ends within the limit, so systemd never kills it midway."""
    from dadc import profiles
    limit = max(p.stop_timeout_seconds for p in profiles.registry().values())
    lines = [
        "# dadc as the Docker application deployment connector of a device.",
        "# Generated by scripts/gen-docs from connector/options.py; a test keeps it current.",
        "# SIGTERM (systemctl stop, shutdown) interrupts a start and runs the version's stop sequence: all of it",
        f"# within the version's stop limit ({limit:g} s; --stop-timeout changes it: raise TimeoutStopSec with it).",
        "[Unit]",
        "Description=dadc Docker application deployment connector",
        "After=docker.service network-online.target",
        "Wants=docker.service network-online.target",
        "",
        "[Service]",
        "Type=simple",
        "# `systemctl reload dadc` reads the definition again at once (SIGHUP).",
        "# Options for `dadc run` go in DADC_OPTIONS in /etc/dadc/env, e.g.",
        "#   DADC_OPTIONS=--mqtt mqtts://broker.example:8883 --mqtt-ca /etc/dadc/ca.pem",
        "# The options of `dadc run`:",
    ]
    for f in fields(RuntimeOptions):
        meta = f.metadata
        if "run" in meta["commands"] and not meta["hidden"] and meta["flag"] not in ("--definition", "--log-file"):
            value = f" {meta['metavar']}" if meta["metavar"] else ""
            lines.append(f"#   {meta['flag']}{value}: {meta['help'].replace('%%', '%')}")
    lines += [
        "# AWS credentials and region (or AWS_ENDPOINT_URL) go in the same file, as for any boto3 program.",
        "EnvironmentFile=-/etc/dadc/env",
        "ExecStart=/usr/local/bin/dadc run --definition /etc/dadc/definition.json "
        "--log-file /var/log/dadc.log $DADC_OPTIONS",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        "KillSignal=SIGTERM",
        f"# the stop limit, plus {STOP_MARGIN} s for the last status message and the exit",
        f"TimeoutStopSec={limit + STOP_MARGIN:g}",
        "Restart=on-failure",
        "RestartSec=10",
        "# exit 1: invalid parameters, a held lock or a failed stop; exit 2: bad options. Restarting will not help.",
        "RestartPreventExitStatus=1 2",
        "",
        "[Install]",
        "WantedBy=multi-user.target",
    ]
    return "\n".join(lines) + "\n"

