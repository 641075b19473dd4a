"""A stand-in for the Greengrass nucleus's part in a component's life, close enough to run an
exported recipe on the test bed (no nucleus can run here). It follows the nucleus's documented
behaviour and its GenericExternalService/KernelConfigResolver:

- artifacts: `s3://` downloaded (with the token exchange credentials) to
  packages/artifacts/NAME/VERSION/<last segment of the key>; `docker:` images pulled as
  DockerApplicationManager does, logging in to ECR only (a token from ECR with the same credentials);
- the configuration: DefaultConfiguration, then the deployment's `merge` (a JSON string) deep-merged;
- interpolation of every string under Lifecycle (Setenv included): {artifacts:path},
  {artifacts:decompressedPath}, {work:path}, {configuration:/POINTER} (a value as text, an object
  as compact JSON, a missing one left as written), {iot:thingName};
- the environment: the component-level Setenv, then the step's; the token exchange service's
  AWS_CONTAINER_CREDENTIALS_FULL_URI and AWS_CONTAINER_AUTHORIZATION_TOKEN, AWS_REGION, SVCUID,
  AWS_IOT_THING_NAME; never the nucleus's own AWS keys (boto3 must use the container provider);
- steps run with `sh -c`: Install (Skipif `exists`/`onpath`), Startup or Run, each within its
  Timeout (Install and Startup 120 s by default, Shutdown 15 s); Run runs in the background;
- a new component version: the old one's Shutdown, then its processes end (SIGTERM to the
  process group, SIGKILL after a 5 s grace), then the new one's lifecycle.
"""
from __future__ import annotations

import copy
import http.server
import json
import os
import re
import secrets
import signal
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

DEFAULT_TIMEOUT = {"install": 120, "startup": 120, "shutdown": 15, "bootstrap": 120}
GRACE = 5.0
PLACEHOLDER = re.compile(r"\{(artifacts|work|configuration|iot):([^}]*)\}")
ECR = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")


class LifecycleError(AssertionError):
    """A step failed or passed its Timeout: the nucleus reports the component BROKEN/ERRORED."""


class TokenExchange(http.server.ThreadingHTTPServer):
    """Serves the credentials the token exchange service hands components, behind its token."""

    def __init__(self, credentials: dict[str, str]) -> None:
        self.token = secrets.token_hex(16)
        self.credentials = credentials
        self.requests = 0
        super().__init__(("127.0.0.1", 0), _Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/2016-11-01/credentialprovider/"


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (the http.server API)
        server: TokenExchange = self.server  # type: ignore[assignment]
        if self.headers.get("Authorization") != server.token:
            self.send_response(403)
            self.end_headers()
            return
        server.requests += 1
        body = json.dumps({**server.credentials, "Expiration": "2099-01-01T00:00:00Z"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in update.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _pointer(doc: Any, pointer: str) -> Any:
    for part in [p.replace("~1", "/").replace("~0", "~") for p in pointer.split("/")[1:]]:
        if not isinstance(doc, dict) or part not in doc:
            return None
        doc = doc[part]
    return doc


@dataclass
class Component:
    name: str
    version: str
    recipe: dict[str, Any]
    configuration: dict[str, Any]
    artifacts: Path
    work: Path
    log: Path
    run: subprocess.Popen[bytes] | None = None
    steps: list[tuple[str, int]] = field(default_factory=list)  # (step, exit code), in order

    @property
    def lifecycle(self) -> dict[str, Any]:
        return self.recipe["Manifests"][0].get("Lifecycle", {})


class Nucleus:
    def __init__(self, root: Path, region: str, device_env: dict[str, str], thing: str = "dadc-test-thing") -> None:
        self.root, self.region, self.thing = root, region, thing
        self.device_env = device_env  # PATH, HOME, AWS_ENDPOINT_URL (the bed's AWS): what the device has
        self.tes = TokenExchange({"AccessKeyId": "testing", "SecretAccessKey": "testing", "Token": "tes-session"})
        self.running: dict[str, Component] = {}

    def close(self) -> None:
        for component in list(self.running.values()):
            self.stop(component.name)
        self.tes.shutdown()

    def _session(self) -> boto3.session.Session:
        """The nucleus's and DockerApplicationManager's credentials come from the token exchange service too."""
        import urllib.request
        request = urllib.request.Request(self.tes.uri, headers={"Authorization": self.tes.token})
        with urllib.request.urlopen(request, timeout=10) as answer:
            creds = json.load(answer)
        return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["Token"], region_name=self.region)

    def _download(self, recipe: dict[str, Any], into: Path) -> None:
        into.mkdir(parents=True, exist_ok=True)
        s3 = self._session().client("s3", endpoint_url=self.device_env.get("AWS_ENDPOINT_URL"))
        for artifact in recipe["Manifests"][0].get("Artifacts", []):
            uri = artifact["Uri"]
            if uri.startswith("s3://"):
                bucket, _, key = uri[5:].partition("/")
                target = into / key.rsplit("/", 1)[-1]
                target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                target.chmod(0o700 if artifact.get("Permission", {}).get("Execute") in ("OWNER", "ALL") else 0o600)
            elif uri.startswith("docker:"):
                self._pull(uri[len("docker:"):])
            else:
                raise LifecycleError(f"artifact {uri}: not s3:// or docker:")

    def _pull(self, image: str) -> None:
        host = image.split("/", 1)[0]
        env = dict(self.device_env, DOCKER_CONFIG=str(self.root / "dam-docker"))
        m = ECR.fullmatch(host)
        if m:  # DockerApplicationManager logs in to ECR only, with the token exchange credentials
            ecr = self._session().client("ecr", region_name=m[2], endpoint_url=self.device_env.get("AWS_ENDPOINT_URL"))
            data = ecr.get_authorization_token(registryIds=[m[1]])["authorizationData"][0]
            import base64
            user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
            subprocess.run(["docker", "login", "-u", user, "--password-stdin", host], input=password, text=True,
                           env=env, check=True, capture_output=True, timeout=120)
        done = subprocess.run(["docker", "pull", image], env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise LifecycleError(f"docker pull {image}: {done.stderr.strip()}")

    def _interpolate(self, value: Any, c: Component) -> Any:
        if isinstance(value, dict):
            return {k: self._interpolate(v, c) for k, v in value.items()}
        if not isinstance(value, str):
            return value

        def one(m: re.Match[str]) -> str:
            space, key = m[1], m[2]
            if space == "artifacts" and key in ("path", "decompressedPath"):
                return str(c.artifacts)
            if space == "work" and key == "path":
                return str(c.work)
            if space == "iot" and key == "thingName":
                return self.thing
            if space == "configuration":
                found = _pointer(c.configuration, key)
                if found is None:
                    return m[0]  # the nucleus leaves a missing value as written
                return json.dumps(found, separators=(",", ":")) if isinstance(found, (dict, list)) else \
                    (str(found).lower() if isinstance(found, bool) else str(found))
            return m[0]
        return PLACEHOLDER.sub(one, value)

    def _env(self, c: Component, step: dict[str, Any] | str) -> dict[str, str]:
        env = dict(self.device_env)
        env.update({"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.tes.uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.tes.token,
                    "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "SVCUID": secrets.token_hex(8),
                    "AWS_IOT_THING_NAME": self.thing})
        for scope in (c.lifecycle.get("Setenv", {}), step.get("Setenv", {}) if isinstance(step, dict) else {}):
            env.update({k: str(self._interpolate(v, c)) for k, v in scope.items()})
        return env

    def _start(self, c: Component, name: str, background: bool = False) -> int | None:
        step = c.lifecycle.get(name)
        if step is None:
            return None
        script = step if isinstance(step, str) else step["Script"]
        if isinstance(step, dict) and "Skipif" in step:
            kind, _, what = self._interpolate(step["Skipif"], c).partition(" ")
            if (kind == "exists" and Path(what.strip()).exists()) or \
                    (kind == "onpath" and subprocess.run(["sh", "-c", f"command -v {what.strip()}"]).returncode == 0):
                c.steps.append((name, 0))
                return 0
        with c.log.open("ab") as log:
            log.write(f"--- {name}\n".encode())
            log.flush()
            proc = subprocess.Popen(["sh", "-c", self._interpolate(script, c)], env=self._env(c, step), stdout=log,
                                    stderr=subprocess.STDOUT, cwd=c.work, start_new_session=True)
        if background:  # the nucleus reaps a Run process as it exits (Exec's background thread)
            c.run = proc
            threading.Thread(target=proc.wait, daemon=True).start()
            return None
        timeout = int(step.get("Timeout", DEFAULT_TIMEOUT[name.lower()])) if isinstance(step, dict) else \
            DEFAULT_TIMEOUT[name.lower()]
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._end(proc)
            c.steps.append((name, -1))
            raise LifecycleError(f"{c.name} {name} passed its Timeout of {timeout} s") from None
        c.steps.append((name, code))
        if code:
            raise LifecycleError(f"{c.name} {name} exited {code}; log:\n{c.log.read_text()[-3000:]}")
        return code

    @staticmethod
    def _end(proc: subprocess.Popen[bytes]) -> None:
        """Exec.close(): SIGTERM to the process tree, SIGKILL after the grace."""
        if proc.poll() is not None:
            return
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=GRACE)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def deploy(self, recipe: dict[str, Any], merge: str | None = None) -> Component:
        """A deployment of this component version: replaces a running version as Greengrass does."""
        name, version = recipe["ComponentName"], recipe["ComponentVersion"]
        artifacts = self.root / "packages" / "artifacts" / name / version
        self._download(recipe, artifacts)
        config = recipe.get("ComponentConfiguration", {}).get("DefaultConfiguration", {})
        if merge:
            config = _merge(config, json.loads(merge))
        work = self.root / "work" / name
        work.mkdir(parents=True, exist_ok=True)
        if name in self.running:
            self.stop(name)
        c = Component(name, version, recipe, config, artifacts, work, self.root / "logs" / f"{name}.log")
        c.log.parent.mkdir(parents=True, exist_ok=True)
        self._start(c, "Install")
        if "Startup" in c.lifecycle:
            self._start(c, "Startup")
        else:
            self._start(c, "Run", background=True)
        self.running[name] = c
        return c

    def stop(self, name: str) -> Component:
        """Shutdown, then the component's processes end."""
        c = self.running.pop(name)
        try:
            self._start(c, "Shutdown")
        finally:
            if c.run is not None:
                self._end(c.run)
        return c
