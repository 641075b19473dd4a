"""What counts as unreachable (an offline fallback may act) and what is a refusal (it fails); a
signal ends the running command's whole process group; every command has a planned limit."""
from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from dadc import profiles
from dadc.errors import CredentialError, CredentialsUnreachable, Interrupted, InvalidParameter, Unreachable
from dadc.plan import PlanOptions
from dadc.plan import Observed, plan_start, plan_stop
from dadc.runtime.seams import process
from dadc.runtime.seams import secrets as credentials
from dadc.runtime.seams.docker import unreachable
from dadc.runtime.status import LazySink, locate

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:greengrass-x-AbCdEf"


@pytest.mark.parametrize(("text", "gone"), [
    ('Error response from daemon: Get "https://r:5000/v2/": dial tcp 127.0.0.1:5000: connect: connection refused', True),
    ('Get "https://r.example/v2/": dial tcp: lookup r.example: no such host', True),
    ("net/http: TLS handshake timeout", True),
    ('Get "https://r/v2/": context deadline exceeded (Client.Timeout exceeded while awaiting headers)', True),
    ("Error response from daemon: login attempt to http://r:5000/v2/ failed with status: 401 Unauthorized", False),
    ('Error response from daemon: Get "https://r/v2/": unauthorized: incorrect username or password', False),
    ("pull access denied for r/app, repository does not exist or may require 'docker login'", False),
    ("manifest for r/app:1 not found: manifest unknown", False),
    # a port or address holding the digits 401/403 is no refusal (seen: a registry on port 40399)
    ('Error response from daemon: Get "http://127.0.0.1:40399/v2/": dial tcp 127.0.0.1:40399: connect: '
     'connection refused', True),
    ('Get "https://10.0.4.13:4013/v2/": dial tcp 10.0.4.13:4013: i/o timeout', True),
    ("unexpected status code 403 Forbidden", False),
])
def test_a_registry_that_answered_is_never_offline(text: str, gone: bool) -> None:
    assert unreachable(text) is gone


class Client:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_secret_value(self, **kw: Any) -> Any:
        raise self.error

    def get_authorization_token(self, **kw: Any) -> Any:
        raise self.error


def _client_error(code: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}}, "Op")


def test_secrets_manager_unreachable_versus_refusing() -> None:
    with pytest.raises(CredentialsUnreachable):
        credentials.from_secrets(Client(EndpointConnectionError(endpoint_url="http://x")), [ARN])
    with pytest.raises(CredentialsUnreachable):
        credentials.from_secrets(Client(ReadTimeoutError(endpoint_url="http://x")), [ARN])
    with pytest.raises(InvalidParameter) as denied:
        credentials.from_secrets(Client(_client_error("AccessDeniedException")), [ARN])
    assert not isinstance(denied.value, Unreachable)


def test_ecr_unreachable_versus_refusing() -> None:
    registries = {"123456789012.dkr.ecr.us-east-1.amazonaws.com": ("123456789012", "us-east-1")}
    with pytest.raises(CredentialsUnreachable):
        credentials.from_ecr(lambda region: Client(EndpointConnectionError(endpoint_url="http://x")), registries)
    with pytest.raises(CredentialError) as refused:
        credentials.from_ecr(lambda region: Client(_client_error("AccessDeniedException")), registries)
    assert not isinstance(refused.value, Unreachable) and "AccessDeniedException" in str(refused.value)


@pytest.fixture
def failing_credentials_endpoint(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A container credentials endpoint (the Greengrass token exchange) answering 500, as it does
    when the device is offline; the only credentials source botocore finds."""
    import http.server
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(500)
            self.end_headers()
        def log_message(self, *args: Any) -> None:
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_FULL_URI", f"http://127.0.0.1:{server.server_port}/creds")
    monkeypatch.setenv("AWS_CONTAINER_AUTHORIZATION_TOKEN", "t")
    yield server
    server.shutdown()


def test_credentials_that_cannot_be_had_are_each_service_unreachable(failing_credentials_endpoint: Any) -> None:
    """Making a client resolves the credentials: when that fails, S3, Secrets Manager and ECR were
    never reached, so an offline fallback may act (not an InternalError)."""
    from dadc.errors import SourceUnreachable
    from dadc.runtime.seams.aws import AwsCloud
    cloud = AwsCloud("us-east-1")
    with pytest.raises(SourceUnreachable):
        cloud.fetch("b", "k", None)
    with pytest.raises(CredentialsUnreachable):
        cloud.secret_logins([ARN])
    with pytest.raises(CredentialsUnreachable):
        cloud.ecr_logins({"123456789012.dkr.ecr.us-east-1.amazonaws.com": ("123456789012", "us-east-1")})


def _after(path: Path, action: Any) -> threading.Thread:
    """Do action once the command has shown it started (it writes path): an event, not a clock."""
    def wait() -> None:
        deadline = time.monotonic() + 30
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        action()
    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_an_interrupt_ends_the_whole_process_group(tmp_path: Path) -> None:
    """The command's own child (as compose's plugin or compose's children are) goes too."""
    started, pid_file = tmp_path / "started", tmp_path / "child.pid"
    script = f"sleep 300 & echo $! > {pid_file}; touch {started}; wait"
    _after(started, process.interrupt)
    try:
        with pytest.raises(Interrupted, match="interrupted by a signal"):
            process.run(["sh", "-c", script], timeout=300)
        child = int(pid_file.read_text())
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(child)
        with pytest.raises(Interrupted):  # nothing more runs until the stop sequence resumes
            process.run(["true"])
        with pytest.raises(Interrupted):
            process.sleep(60)
    finally:
        process.resume()
    assert process.run(["true"]).returncode == 0


def test_a_limit_ends_the_whole_process_group(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    from dadc.errors import CommandFailed
    with pytest.raises(CommandFailed, match="did not finish within 0.5s") as info:
        process.run(["sh", "-c", f"sleep 300 & echo $! > {pid_file}; wait"], timeout=0.5)
    assert info.value.timed_out is True
    child = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while _alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(child)


def test_every_docker_and_compose_step_has_a_planned_limit() -> None:
    for version in profiles.known_versions():
        steps = plan_start(profiles.get(version), {"ForceDeploy": "true"} if version > 1 else {},
                           Observed(previous_file=True, project_running=True), PlanOptions())
        for step in steps:
            if step.kind in ("fetch", "login", "pull", "down", "up"):
                assert step.timeout is not None and step.timeout > 0, (version, step)
    (down,) = plan_stop(profiles.get(7), {}, Observed(True, True), PlanOptions())
    assert down.timeout == 600
    (down,) = plan_stop(profiles.get(7), {}, Observed(True, True), PlanOptions(), budget=100.0)
    assert down.timeout == 95.0  # what is left of the stop limit, less the time to report
    (down,) = plan_stop(profiles.get(7), {}, Observed(True, True), PlanOptions(stop_timeout=30), budget=1000.0)
    assert down.timeout == 30


def test_the_unit_stops_within_the_versions_limit_plus_a_margin() -> None:
    from dadc.options import STOP_MARGIN, systemd_unit
    limit = max(p.stop_timeout_seconds for p in profiles.registry().values())
    assert f"TimeoutStopSec={limit + STOP_MARGIN:g}\n" in systemd_unit()


def test_the_sink_is_made_once_the_destination_is_known() -> None:
    made: list[str] = []

    class Sink:
        def publish(self, payload: dict[str, Any]) -> None:
            pass

        def close(self, timeout: float = 10.0) -> None:
            pass

    lazy = LazySink(lambda destination: made.append(destination) or Sink(), "/etc/dadc/definition.json")
    locate(lazy, "/srv/app")
    locate(lazy, "/srv/other")  # the first place wins: the client id stays the same
    lazy.publish({"status": "success"})
    lazy.publish({"status": "success"})
    assert made == ["/srv/app"]
    early = LazySink(lambda destination: made.append(destination) or Sink(), "s3://b/def.json")
    early.publish({"status": "fail"})  # the definition could not be read: its name stands in
    assert made[-1] == "s3://b/def.json"


class DeniedS3:
    def __init__(self, error: Exception) -> None:
        self.error = error

    def get_object(self, **request: Any) -> Any:
        raise self.error


def test_an_s3_denial_is_a_refusal_and_a_lost_connection_is_offline() -> None:
    from dadc.errors import SourceError
    from dadc.runtime.seams.s3 import S3
    with pytest.raises(SourceError) as denied:
        S3(DeniedS3(_client_error("AccessDenied"))).fetch("b", "k", None)
    assert not isinstance(denied.value, Unreachable) and "AccessDenied" in str(denied.value)
    with pytest.raises(InvalidParameter):  # the definition names what is not there
        S3(DeniedS3(_client_error("NoSuchKey"))).fetch("b", "k", None)
    with pytest.raises(Unreachable):
        S3(DeniedS3(EndpointConnectionError(endpoint_url="http://s3"))).fetch("b", "k", None)


def test_a_login_past_its_limit_is_unreachable_and_a_401_is_not(tmp_path: Path) -> None:
    from dadc.runtime.seams.docker import Docker
    from dadc.runtime.seams.secrets import Login
    slow = tmp_path / "docker"
    slow.write_text("#!/bin/sh\ncat >/dev/null; sleep 30\n")
    slow.chmod(0o755)
    with pytest.raises(CredentialsUnreachable):
        Docker(str(slow)).login(tmp_path / "cfg", Login("r:5000", "u", "pw", "arn"), timeout=0.5)
    refused = tmp_path / "refusing"
    refused.write_text("#!/bin/sh\ncat >/dev/null\necho 'Error response from daemon: login attempt to http://r:5000/v2/ "
                       "failed with status: 401 Unauthorized' >&2; exit 1\n")
    refused.chmod(0o755)
    with pytest.raises(CredentialError) as info:
        Docker(str(refused)).login(tmp_path / "cfg", Login("r:5000", "u", "pw", "arn"))
    assert not isinstance(info.value, Unreachable) and "pw" not in str(info.value)


def test_a_signal_arriving_inside_the_handler_that_sets_the_wake_up_never_deadlocks() -> None:
    """dadc run's wake-up and the interrupt are set from signal handlers. threading.Event.set takes
    a plain lock: a second SIGTERM landing inside the first handler's set() re-entered set() on
    the same thread and hung dadc run for good (seen: two SIGTERMs a few ms apart, from `timeout`
    and a supervisor; py-spy showed the nested handlers). A nested set() is simulated here at the
    worst moment; the flag takes no lock, so it returns, and the flag is set."""
    import os as _os
    from dadc.runtime.seams import process
    flag = process.Flag()
    real_write = _os.write
    nested = {"done": False}

    def write_then_signal(fd: int, data: bytes) -> int:
        if not nested["done"]:
            nested["done"] = True
            flag.set()  # the second signal's handler, inside the first one's set()
        return real_write(fd, data)
    _os.write = write_then_signal  # type: ignore[assignment]
    try:
        flag.set()
    finally:
        _os.write = real_write  # type: ignore[assignment]
    assert nested["done"] and flag.is_set() and flag.wait(0)
    flag.clear()
    assert not flag.is_set() and not flag.wait(0.01)
