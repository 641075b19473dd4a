"""The lifecycle scripts of an exported component, written from the version's profile.

native: the version's start sequence, then the container status log, as Run; its stop sequence as
Shutdown. Each command's gate (`when`) and fallback are read from the
configuration at run time (Setenv maps every parameter to P_<Name>), so a `configurationUpdate`
acts as a changed definition did. dadc: Install makes a venv, Run is `dadc run`, Shutdown `dadc stop`.

Every value reaches the shell through the environment, never pasted into the script: a parameter
with a quote or a `$` cannot change what runs."""
from __future__ import annotations

from dadc import options as dadc_options
from dadc import plan
from dadc.ggv2.inputs import Inputs
from dadc.profiles import Command
from dadc.domain.labels import PROJECT_LABEL
from dadc.profiles import project_name

from dadc.steps import Kind

COMPOSE_NAME = "docker-compose.yml"
# What each planned step becomes in an exported component. The dadc style runs dadc, so every step
# runs as planned there; this is the native style's lifecycle, or why a step is not in it.
LIFECYCLE: dict[Kind, str] = {
    Kind.FETCH: "the compose file is the component's artifact (the nucleus downloads it); Run copies it",
    Kind.LOGIN: "registry_login.py, with the token exchange credentials and the planned pauses",
    Kind.PULL: "compose pull of the registry services (docker: artifacts are the nucleus's)",
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
# "$@" holds the compose CLI (an array in POSIX sh), so `timeout` can run it: it cannot run a function
PRELUDE = """set -eu
on() { case "$1" in [Tt][Rr][Uu][Ee]) return 0;; *) return 1;; esac; }
if docker compose version >/dev/null 2>&1; then set -- docker compose; else set -- docker-compose; fi
CURRENT="$P_DockerComposeFileDestinationPath/{COMPOSE_NAME}"
INCOMING="$P_DockerComposeFileDestinationPath/.incoming-{COMPOSE_NAME}"
""".replace("{COMPOSE_NAME}", COMPOSE_NAME)


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


def _fallback_ok(command: Command) -> str:
    """The shell condition under which this command's failure is accepted (its fallback), or ''."""
    fb = command.fallback
    return f'on "${{P_{fb.when}:-false}}"' if fb and fb.then in ("offline", "local-images") else ""


def _step(command: Command, inputs: Inputs, compose_file: str) -> str:
    stop = int(inputs.config.profile.stop_timeout_seconds)
    kind = command.command
    if kind == "fetch":
        return (f"# fetch: the compose file is this component version's artifact (Greengrass downloaded it)\n"
                f'mkdir -p "$P_DockerComposeFileDestinationPath"\n'
                f'cp "{{artifacts:path}}/{compose_file}" "$INCOMING"')
    if kind == "login":
        if "AWSSecretsArnList" not in inputs.config.profile.parameter_names:
            return "# login: this version has no registry secrets; ECR images are docker: artifacts"
        fb = command.fallback
        offline = f'"$(on "${{P_{fb.when}:-false}}" && echo true || echo false)"' if fb else "false"
        delays = plan.login_delays(command)  # the planner's pauses, as dadc itself makes them
        return (f"# login: each registry secret, read with the token exchange credentials; password on stdin\n"
                f'if [ -n "${{P_AWSSecretsArnList:-}}" ] && [ "$P_AWSSecretsArnList" != "[]" ]; then\n'
                f'  timeout -k 3 {_limit("login") * command.attempts + int(sum(delays))} python3 '
                f'"{{artifacts:path}}/{HELPER}" "{",".join(f"{d:g}" for d in delays)}" {offline} '
                f'"$P_AWSSecretsArnList"\nfi')
    if kind == "pull":
        services = " ".join(inputs.images.registry_services)
        if not services:
            return _gated(command, ": # pull: every image is a docker: artifact, pulled by DockerApplicationManager")
        ok = _fallback_ok(command)
        run = compose("INCOMING", f"pull {services}", _limit("pull"))
        return _gated(command, f"{run} || {ok}" if ok else run)
    if kind == "down":
        fb = command.fallback
        force = (f'{{ on "${{P_{fb.when}:-false}}" && docker ps -aq --filter label={PROJECT_LABEL}={project_name()} '
                 f'| xargs -r docker rm -f; }}' if fb and fb.then == "force-remove" else "false")
        return _gated(command, f'if [ -f "$CURRENT" ]; then\n  {compose("CURRENT", "down", stop)} || {force}\nfi')
    if kind == "up":
        return f'mv -f "$INCOMING" "$CURRENT"\n{compose("CURRENT", "up -d", _limit("up"))}'
    raise ValueError(f"no V2 lifecycle for command {kind!r}")


def native_run(inputs: Inputs, compose_file: str) -> str:
    """The start sequence, then the connector's container status log every
    DockerContainerStatusLogFrequency seconds. One Run step: a recipe defines Startup or Run, not
    both, and the status log must keep running. No step Timeout (the nucleus would end the log
    with it): each docker command has its planned limit."""
    body = "\n".join(_step(c, inputs, compose_file) for c in inputs.config.profile.start_sequence)
    return (f'{PRELUDE}{body}\n# the status log\nwhile :; do\n  {compose("CURRENT", "ps")} || true\n'
            f'  sleep "${{P_DockerContainerStatusLogFrequency:-300}}"\ndone\n')


def native_shutdown(inputs: Inputs) -> tuple[str, int]:
    profile = inputs.config.profile
    stop = int(profile.stop_timeout_seconds)
    body = "\n".join(_gated(c, f'if [ -f "$CURRENT" ]; then {compose("CURRENT", "down", stop)}; fi')
                     for c in profile.stop_sequence)
    return f"{PRELUDE}{body}\n", stop + int(dadc_options.STOP_MARGIN)


# --- dadc style -------------------------------------------------------------------------------

def venv(dadc_version: str) -> str:
    return "{work:path}/venv-" + dadc_version


def dadc_setenv() -> dict[str, str]:
    return {"DADC_PARAMETERS": "{configuration:/Parameters}", "DADC_CONNECTOR": "{configuration:/ConnectorArn}",
            "DADC_OPTIONS": "{configuration:/DadcOptions}", "DADC_THING_NAME": "{iot:thingName}"}


def dadc_install(wheel: str, dadc_version: str) -> str:
    """A venv that sees the device's Python packages (a distro's python3-boto3 counts); what is
    missing comes from the device's package index."""
    v = venv(dadc_version)
    return (f'set -eu\nrm -rf "{v}"\npython3 -m venv --system-site-packages "{v}"\n'
            f'# dadc itself into the venv even when the system has a dadc; then what it needs and is missing\n'
            f'"{v}/bin/python" -m pip install --disable-pip-version-check -q --ignore-installed --no-deps '
            f'"{{artifacts:path}}/{wheel}"\n'
            f'"{v}/bin/python" -m pip install --disable-pip-version-check -q "{{artifacts:path}}/{wheel}"\n')


def _exec_dadc(action: str, dadc_version: str) -> str:
    """The configuration's parameters as dadc's --parameters file, then dadc ACTION in its place.
    DADC_OPTIONS: dadc options from the configuration (--mqtt ..., --health-gate ...), split on spaces."""
    return (f'printf \'%s\' "$DADC_PARAMETERS" > "{{work:path}}/parameters.json"\n'
            f'exec "{venv(dadc_version)}/bin/dadc" {action} --parameters "{{work:path}}/parameters.json" '
            f'--version "$DADC_CONNECTOR" --state-dir "{{work:path}}/state" $DADC_OPTIONS\n')


def dadc_run(dadc_version: str) -> str:
    return ('set -eu\necho $$ > "{work:path}/dadc.pid"  # exec keeps the pid: Shutdown signals this process\n'
            + _exec_dadc("run", dadc_version))


def dadc_shutdown(dadc_version: str) -> str:
    """`dadc run` holds its destination for its whole life, and on SIGTERM runs the version's stop
    sequence within the stop limit: Shutdown signals it and waits for it (the nucleus ends Run
    only after Shutdown, within a 5 s grace). With no `dadc run` alive, `dadc stop` does it."""
    return ('set -eu\nPID=$(cat "{work:path}/dadc.pid" 2>/dev/null || true)\n'
            'alive() { [ -n "$PID" ] && grep -q dadc "/proc/$PID/cmdline" 2>/dev/null '
            '&& ! grep -q "^State:[[:space:]]*Z" "/proc/$PID/status" 2>/dev/null; }\n'
            'if alive; then\n  kill -TERM "$PID"\n  while alive; do sleep 1; done\n  exit 0\nfi\n'
            + _exec_dadc("stop", dadc_version))
