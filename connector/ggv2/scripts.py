"""The native style's lifecycle scripts, written from the version's profile (the dadc style's are in
dadcstyle.py).

Startup is the version's start sequence: the nucleus reports the component RUNNING when Startup
exits 0 and ERRORED when it exits otherwise or passes its Timeout, so the start decides the
deployment (and ROLLBACK undoes a failed one); a Run step would be RUNNING as soon as it is forked.
Shutdown is the stop sequence; Uninstall takes the application down whatever
StopContainersOnNewDeployment says (nothing manages it once the component is gone). Each command's
gate (`when`) and fallback are read from the configuration at run time (Setenv maps every parameter
to P_<Name>), so a `configurationUpdate` acts as a changed definition did.

Every value reaches the shell through the environment, never pasted into the script: a parameter
with a quote or a `$` cannot change what runs. No `{NAME:...}` text appears but the nucleus's own
recipe variables: the nucleus reads `{word:text}` as one (a shell default such as `${X:-no}` is
logged as an interpolation error at every deployment), so variables are written `$P_Name`."""
from __future__ import annotations

from typing import Any

from dadc import plan
from dadc.data import load_json
from dadc.domain.images import ecr_registries
from dadc.domain.images import parse as parse_image
from dadc.domain.labels import PROJECT_LABEL
from dadc.ggv2.inputs import Inputs
from dadc.profiles import Command, project_name
from dadc.steps import Kind

COMPOSE_NAME = "docker-compose.yml"


def component_data() -> dict[str, Any]:
    return load_json("versions", "ggv2.json")
# What each planned step becomes in an exported component. The dadc style runs dadc, so every step
# runs as planned there; this is the native style's lifecycle, or why a step is not in it.
LIFECYCLE: dict[Kind, str] = {
    Kind.FETCH: "the compose file is the component's artifact (the nucleus downloads it); Startup copies it",
    Kind.LOGIN: "registry_login.py, with the token exchange credentials and the planned pauses",
    Kind.PULL: "compose pull of every service with a registry image, when DockerPullBeforeUp says so",
    Kind.PREFETCH: "not exported: the nucleus runs the old component's Shutdown before the new Startup, so a "
                   "prefetch there has nothing left to protect",
    Kind.PRUNE: "not exported: the dadc style only (--prune-images in DadcOptions); it needs the release history",
    Kind.DOWN: "compose down of the local copy, within the version's stop limit",
    Kind.REMOVE: "ForceDeploy's docker rm -f by the project's label",
    Kind.INSTALL: "mv of the incoming file onto the local copy",
    Kind.UP: "compose up -d",
    Kind.ABORT: "not exported: the native sequence has no record of what ran before it",
    Kind.VERIFY: "not exported: the native style keeps no sha256 of what it installed",
    Kind.REFUSE_FAILED: "not exported: no release history (the dadc style keeps it)",
    Kind.GATE: "not exported: the dadc style only (--health-gate in DadcOptions)",
    Kind.PUBLISH: "not exported: a native component publishes no status (the dadc style does, with --mqtt)",
    Kind.RECORD: "not exported: no release history (the dadc style keeps it)",
    Kind.KEEP_FAILED: "not exported: no release history (the dadc style keeps it)",
    Kind.CHOOSE: "not exported: a failed native deployment is the nucleus's to roll back",
    Kind.PIN: "not exported: a failed native deployment is the nucleus's to roll back",
    Kind.RESTORE: "not exported: a failed native deployment is the nucleus's to roll back",
    Kind.CHECK_IMAGES: "not exported: a failed native deployment is the nucleus's to roll back",
    Kind.FAIL: "not exported: a failed native deployment is the nucleus's to roll back",
}
HELPER = "registry_login.py"
# "$@" holds the compose CLI (an array in POSIX sh), so `timeout` can run it: it cannot run a function.
# unreachable: what docker or compose print when a registry cannot be reached (not a refusal)
PRELUDE = """set -eu
on() { case "$1" in [Tt][Rr][Uu][Ee]) return 0;; *) return 1;; esac; }
unreachable() { printf '%s' "$1" | grep -Eqi 'connection refused|no such host|i/o timeout|network is unreachable|timeout|connection reset|tls handshake|dial tcp'; }
if docker compose version >/dev/null 2>&1; then set -- docker compose; else set -- docker-compose; fi
CURRENT="$P_DockerComposeFileDestinationPath/{COMPOSE_NAME}"
INCOMING="$P_DockerComposeFileDestinationPath/.incoming-{COMPOSE_NAME}"
""".replace("{COMPOSE_NAME}", COMPOSE_NAME)
# the registry credentials a login leaves in the component's Docker config are removed when the
# start ends, succeeded or not: nothing after up needs them (a restart policy pulls nothing)
FORGET = 'trap \'rm -f "$DOCKER_CONFIG/config.json"\' EXIT\n'


def compose(file: str, action: str, limit: int | None = None) -> str:
    """The compose argv dadc runs (seams/compose.py), on $CURRENT or $INCOMING, within limit."""
    argv = (f'"$@" -p {project_name()} -f "${file}" --project-directory "$P_DockerComposeFileDestinationPath" '
            f'{action}')
    return f"timeout -k 3 {limit} {argv}" if limit else argv


def setenv(inputs: Inputs) -> dict[str, str]:
    """P_<Name> for each parameter of the version, from the component's configuration."""
    return {f"P_{p}": "{configuration:/Parameters/" + p + "}" for p in inputs.config.profile.parameter_names}


def _limit(kind: str) -> int:
    return int(plan.limit(kind))


def _gated(command: Command, body: str) -> str:
    return f'if on "$P_{command.when}"; then\n{_indent(body)}\nfi' if command.when else body


def _indent(text: str) -> str:
    return "\n".join("  " + line if line else line for line in text.splitlines())


def _offline(command: Command, inputs: Inputs) -> str:
    """The parameter whose truth lets this command's unreachable failure stand (its fallback), or ''."""
    fb = command.fallback
    ok = fb and fb.then in ("offline", "local-images") and fb.when in inputs.config.profile.parameter_names
    return fb.when if ok and fb else ""


def logs_in(inputs: Inputs) -> bool:
    """The start logs in: to the registries of the exported secrets, or to ECR for the images it
    pulls itself (the login helper is an artifact of exactly those exports: secrets added to the
    configuration later need a new export, as MIGRATION.md says)."""
    return bool(inputs.images.ecr) or bool(inputs.secrets)


def _step(command: Command, inputs: Inputs, compose_file: str) -> str:
    stop = int(inputs.config.profile.stop_timeout_seconds)
    kind = command.command
    if kind == "fetch":
        return (f"# fetch: the compose file is this component version's artifact (Greengrass downloaded it,\n"
                f"# read-only); a copy left by an interrupted start is replaced, not written over\n"
                f'mkdir -p "$P_DockerComposeFileDestinationPath"\nrm -f "$INCOMING"\n'
                f'cp "{{artifacts:path}}/{compose_file}" "$INCOMING"')
    if kind == "login":
        if not logs_in(inputs):
            return "# login: no registry secrets and no ECR image"
        offline = _offline(command, inputs)
        flag = f'"$(on "$P_{offline}" && echo true || echo false)"' if offline else "false"
        delays = plan.login_delays(command)  # the planner's pauses, as dadc itself makes them
        secrets = '"$P_AWSSecretsArnList"' if "AWSSecretsArnList" in inputs.config.profile.parameter_names else "''"
        ecr = ",".join(sorted({parse_image(i).registry for i in inputs.images.ecr}))
        registries = max(1, len(inputs.secrets) + len(ecr.split(",") if ecr else []))
        limit = (_limit("login") * command.attempts + int(sum(delays))) * registries
        return (f"# login: each registry secret (read with the token exchange credentials) and each ECR registry\n"
                f"# (a token with them); the password on stdin, never kept past this start\n"
                f'timeout -k 3 {limit} python3 "{{artifacts:path}}/{HELPER}" "{",".join(f"{d:g}" for d in delays)}" '
                f'{flag} {secrets} "{ecr}"')
    if kind == "pull":
        services = " ".join(inputs.images.pulled_services)
        if inputs.images.unknown == "" and not services:
            return _gated(command, ": # pull: no service has a registry image")
        run = compose("INCOMING", f"pull {services}".rstrip(), _limit("pull"))
        offline = _offline(command, inputs)
        if not offline:
            return _gated(command, run)
        # a registry out of reach lets the local images stand in, as the version did; a refusal fails
        return _gated(command, f'if ! said=$({run} 2>&1); then\n  printf \'%s\\n\' "$said" >&2\n'
                               f'  on "$P_{offline}" && unreachable "$said" || exit 1\nfi')
    if kind == "down":
        fb = command.fallback
        force = (f'{{ on "$P_{fb.when}" && docker ps -aq --filter label={PROJECT_LABEL}={project_name()} '
                 f'| xargs -r docker rm -f; }}' if fb and fb.then == "force-remove" else "false")
        return _gated(command, f'if [ -f "$CURRENT" ]; then\n  {compose("CURRENT", "down", stop)} || {force}\nfi')
    if kind == "up":
        return f'mv -f "$INCOMING" "$CURRENT"\n{compose("CURRENT", "up -d", _limit("up"))}'
    raise ValueError(f"no V2 lifecycle for command {kind!r}")


def native_startup(inputs: Inputs, compose_file: str) -> tuple[str, int]:
    """The start sequence and its Timeout: every planned limit (a login per registry, with its
    attempts and pauses) and a margin, so only a command past its own limit ends it."""
    profile = inputs.config.profile
    body = "\n".join(_step(c, inputs, compose_file) for c in profile.start_sequence)
    steps = plan.plan_start(profile, inputs.config.params, plan.Observed(True, True))
    registries = len(inputs.secrets) + len(ecr_registries(list(inputs.images.ecr)))
    timeout = plan.longest(steps, registries) + int(component_data()["startup_margin_seconds"])
    return f"{PRELUDE}{FORGET if logs_in(inputs) else ''}{body}\n", int(timeout)


def native_shutdown(inputs: Inputs) -> tuple[str, int]:
    profile = inputs.config.profile
    stop = int(profile.stop_timeout_seconds)
    body = "\n".join(_gated(c, f'if [ -f "$CURRENT" ]; then {compose("CURRENT", "down", stop)}; fi')
                     for c in profile.stop_sequence)
    return f"{PRELUDE}{body}\n", stop + int(component_data()["stop_margin_seconds"])


def native_uninstall(inputs: Inputs) -> tuple[str, int]:
    """The component removed from the device: its application down, whatever
    StopContainersOnNewDeployment says (no later deployment will manage it)."""
    stop = int(inputs.config.profile.stop_timeout_seconds)
    return (f'{PRELUDE}if [ -f "$CURRENT" ]; then {compose("CURRENT", "down", stop)}; fi\n',
            stop + int(component_data()["stop_margin_seconds"]))
