"""A stand-in for the Greengrass nucleus, running exported components on the test bed's real engine
(no nucleus runs here). It is as harsh as the nucleus wherever the nucleus is harsh; each rule
follows a source file of aws-greengrass-nucleus (docs/ggv2.md has the list):

- deployments (DeploymentService, DependencyResolver): a component version from the store; pinned
  versions within every requirement and runnable on this nucleus's minor version; artifacts and
  `docker:` URIs prepared before anything stops (an invalid URI fails the deployment, nothing changed);
  components the new deployment lacks are stopped and uninstalled (Uninstall from 2.17); the result is
  SUCCEEDED when every component is RUNNING, else FAILED, and `ROLLBACK` puts the previous deployment
  back;
- the configuration (KernelConfigResolver): running, reset, defaults never overwriting, merge;
  recipe variables interpolated, an unknown one logged as an error;
- artifacts (Permission, RunWithPathOwnershipHandler): `s3://` downloaded with the token exchange
  credentials, read-only (0400; 0500 with Execute OWNER), owned by the component user; `docker:`
  pulled as DockerApplicationManager does (ECR logins only), and only for :latest or a missing image;
- the lifecycle (Lifecycle, GenericExternalService): every step run as the component user with
  `sudo -n -E -H -u USER -g GROUP` (or as the nucleus's own user when none is given); Install with
  Skipif evaluated at each try; Startup RUNNING when it exits 0 within its Timeout (120 s by
  default), Run RUNNING as soon as it is forked; an error leads to Shutdown and another try, three in
  a row to BROKEN; Shutdown within its Timeout (15 s), then the step's processes end (SIGTERM, SIGKILL
  after 5 s);
- a restart of the nucleus stops every component within 30 s in all, then starts each again from
  Install (artifacts are not fetched again);
- the token exchange endpoint is the only source of AWS credentials, and can answer 500 or 504 as it
  does offline.
"""
from __future__ import annotations

import base64
import json
import os
import re
import pwd
import grp
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from packaging.version import Version

from tests.integration import nucleus_rules as rules

ECR_HOST = re.compile(r"(\d{12})\.dkr\.ecr\.([a-z0-9-]+)\.amazonaws\.com")


@dataclass
class Component:
    name: str
    version: str
    recipe: dict[str, Any]
    configuration: dict[str, Any]
    run_with: str | None
    artifacts: Path
    work: Path
    log: Path
    state: str = "NEW"
    steps: list[tuple[str, int]] = field(default_factory=list)  # (step, exit code; -1 past its Timeout)
    tracked: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def lifecycle(self) -> dict[str, Any]:
        return self.recipe["Manifests"][0].get("Lifecycle", {})


@dataclass
class Result:
    status: str  # SUCCEEDED or FAILED
    reason: str = ""
    rolled_back: bool = False
    states: dict[str, str] = field(default_factory=dict)


class Nucleus:
    def __init__(self, root: Path, region: str, device_env: dict[str, str], *, version: str = "2.12.0",
                 user: str | None = None, thing: str = "dadc-test-thing") -> None:
        self.root, self.region, self.thing, self.version = root, region, thing, version
        self.device_env = device_env  # PATH, HOME, AWS_ENDPOINT_URL (the bed's AWS): what the device has
        self.user = user  # the nucleus's default runWith (ggc_user:ggc_group on a real device)
        self.tes = rules.TokenExchange({"AccessKeyId": "testing", "SecretAccessKey": "testing",
                                        "Token": "tes-session"})
        self.store: dict[str, dict[str, dict[str, Any]]] = {}
        self.running: dict[str, Component] = {}
        self.configs: dict[str, dict[str, Any]] = {}
        self.current: dict[str, Any] | None = None
        self.interpolation_errors: list[str] = []

    def close(self) -> None:
        for name in list(self.running):
            self._stop(self.running.pop(name))
        self.tes.shutdown()

    # --- the cloud's side: component versions and deployments ------------------------------------
    def add_recipe(self, recipe: dict[str, Any]) -> None:
        """create-component-version: a name and version are created once."""
        versions = self.store.setdefault(recipe["ComponentName"], {})
        assert recipe["ComponentVersion"] not in versions, "a component version is created once"
        versions[recipe["ComponentVersion"]] = recipe

    def deploy(self, deployment: dict[str, Any]) -> Result:
        components = {n: c for n, c in deployment["components"].items() if n in self.store}
        recipes = {n: self.store[n][c["componentVersion"]] for n, c in components.items()}
        try:
            rules.check_versions(self.version, deployment["components"], recipes)
            for name, recipe in recipes.items():
                self._prepare(name, recipe)
        except rules.Refused as exc:
            return Result("FAILED", str(exc), states=self.states())
        previous, configs = self.current, dict(self.configs)
        result = self._apply(components, recipes)
        policy = deployment.get("deploymentPolicies", {}).get("failureHandlingPolicy", "ROLLBACK")
        if result.status == "FAILED" and policy == "ROLLBACK":
            self.configs = configs
            back = previous or {"components": {}}
            self._apply({n: c for n, c in back["components"].items() if n in self.store},
                        {n: self.store[n][c["componentVersion"]] for n, c in back["components"].items()
                         if n in self.store}, rollback=True)
            result.rolled_back = True
        elif result.status == "SUCCEEDED":
            self.current = deployment
        result.states = self.states()
        return result

    def states(self) -> dict[str, str]:
        return {n: c.state for n, c in self.running.items()}

    def restart(self) -> float:
        """The nucleus restarted (its service stopped and started): every component stopped within 30 s
        in all, then each started again from Install. Returns how long the stop took."""
        began = time.monotonic()
        stopping = [threading.Thread(target=self._stop, args=(c,), daemon=True) for c in self.running.values()]
        for t in stopping:
            t.start()
        for t in stopping:
            t.join(max(0.0, began + rules.KERNEL_STOP_SECONDS - time.monotonic()))
        for c in self.running.values():  # what is left past the limit is killed
            for proc in c.tracked:
                self._end(proc, grace=0)
        took = time.monotonic() - began
        for c in self.running.values():
            c.state = "NEW"
            self._bring_up(c)
        return took

    # --- a deployment on the device -----------------------------------------------------------------
    def _apply(self, components: dict[str, Any], recipes: dict[str, dict[str, Any]], rollback: bool = False) -> Result:
        for name in [n for n in self.running if n not in components]:
            gone = self.running.pop(name)
            self._stop(gone)
            if Version(self.version) >= rules.UNINSTALL_SINCE:
                self._step(gone, "Uninstall")
            self.configs.pop(name, None)
        failed = []
        for name, spec in components.items():
            recipe = recipes[name]
            defaults = recipe.get("ComponentConfiguration", {}).get("DefaultConfiguration", {})
            update = None if rollback else spec.get("configurationUpdate")
            config = self.configs[name] if rollback and name in self.configs else \
                rules.resolve_configuration(self.configs.get(name), defaults, update)
            run_with = (spec.get("runWith") or {}).get("posixUser") or self.user
            old = self.running.get(name)
            if old and old.version == recipe["ComponentVersion"] and old.configuration == config \
                    and old.run_with == run_with and old.state == "RUNNING":
                continue  # nothing changed for it
            if old:
                self._stop(old)
            c = self._component(name, recipe, config, run_with)
            self.running[name], self.configs[name] = c, config
            if self._bring_up(c) != "RUNNING":
                failed.append(f"{name} {c.state}")
        return Result("FAILED" if failed else "SUCCEEDED", "; ".join(failed))

    def _component(self, name: str, recipe: dict[str, Any], config: dict[str, Any], run_with: str | None) -> Component:
        work = self.root / "work" / name
        work.mkdir(parents=True, exist_ok=True)
        artifacts = self.root / "packages" / "artifacts" / name / recipe["ComponentVersion"]
        c = Component(name, recipe["ComponentVersion"], recipe, config, run_with, artifacts, work,
                      self.root / "logs" / f"{name}.log")
        c.log.parent.mkdir(parents=True, exist_ok=True)
        owner = self._ids(run_with)
        if owner:  # RunWithPathOwnershipHandler: the component user owns its work and artifacts
            for path in [work, *artifacts.glob("*")]:
                os.chown(path, *owner)
            work.chmod(0o700)
        return c

    def _ids(self, run_with: str | None) -> tuple[int, int] | None:
        if not run_with:
            return None
        user, _, group = run_with.partition(":")
        entry = pwd.getpwnam(user)
        return entry.pw_uid, grp.getgrnam(group).gr_gid if group else entry.pw_gid

    def _prepare(self, name: str, recipe: dict[str, Any]) -> None:
        """The component's artifacts, before anything stops: every docker: URI parsed first."""
        entries = recipe["Manifests"][0].get("Artifacts", [])
        images = [(a, rules.docker_image(a["Uri"])) for a in entries if a["Uri"].startswith("docker:")]
        into = self.root / "packages" / "artifacts" / name / recipe["ComponentVersion"]
        into.mkdir(parents=True, exist_ok=True)
        s3 = self._session().client("s3", endpoint_url=self.device_env.get("AWS_ENDPOINT_URL"))
        for artifact in entries:
            uri = artifact["Uri"]
            if uri.startswith("s3://"):
                bucket, _, key = uri[5:].partition("/")
                target = into / key.rsplit("/", 1)[-1]
                if not target.exists():
                    target.write_bytes(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                execute = artifact.get("Permission", {}).get("Execute") in ("OWNER", "ALL")
                target.chmod(0o500 if execute else 0o400)  # Permission.toFileSystemPermission
            elif not uri.startswith("docker:"):
                raise rules.Refused(f"artifact {uri}: not s3:// or docker:")
        for artifact, (registry, image, ref) in images:
            self._pull(registry, image, ref)

    def _session(self) -> boto3.session.Session:
        """The nucleus's and DockerApplicationManager's credentials come from the token exchange service too."""
        import urllib.request
        request = urllib.request.Request(self.tes.uri, headers={"Authorization": self.tes.token})
        with urllib.request.urlopen(request, timeout=10) as answer:
            creds = json.load(answer)
        return boto3.session.Session(aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"],
                                     aws_session_token=creds["Token"], region_name=self.region)

    def _pull(self, registry: str, image: str, ref: str) -> None:
        full = f"{registry + '/' if registry else ''}{image}{ref}"
        env = dict(self.device_env, DOCKER_CONFIG=str(self.root / "dam-docker"))
        present = subprocess.run(["docker", "image", "inspect", full], capture_output=True).returncode == 0
        if not rules.pull_needed(ref, present):
            return
        m = ECR_HOST.fullmatch(registry)
        if m:  # DockerApplicationManager logs in to ECR only, with the token exchange credentials
            ecr = self._session().client("ecr", region_name=m[2], endpoint_url=self.device_env.get("AWS_ENDPOINT_URL"))
            data = ecr.get_authorization_token(registryIds=[m[1]])["authorizationData"][0]
            user, _, password = base64.b64decode(data["authorizationToken"]).decode().partition(":")
            subprocess.run(["docker", "login", "-u", user, "--password-stdin", registry], input=password, text=True,
                           env=env, check=True, capture_output=True, timeout=120)
        done = subprocess.run(["docker", "pull", full], env=env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise rules.Refused(f"DOCKER_IMAGE_DOWNLOAD_ERROR: docker pull {full}: {done.stderr.strip()}")

    # --- the lifecycle --------------------------------------------------------------------------------
    def _bring_up(self, c: Component) -> str:
        """Install, then Startup (or Run); an error: Shutdown and another try; three in a row: BROKEN."""
        errors = 0
        while self._step(c, "Install") not in (0, None):
            errors += 1
            if errors >= rules.MAXIMUM_CONTINUAL_ERROR:
                c.state = "BROKEN"
                return c.state
        errors = 0
        while True:
            if "Startup" in c.lifecycle:
                code = self._step(c, "Startup", keep=True)
                if code == 0:
                    c.state = "RUNNING"
                    return c.state
            elif "Run" in c.lifecycle:
                self._step(c, "Run", background=True)
                c.state = "RUNNING"  # reported as soon as the process is forked
                return c.state
            else:
                c.state = "FINISHED"
                return c.state
            errors += 1
            self._stop(c)
            if errors >= rules.MAXIMUM_CONTINUAL_ERROR:
                c.state = "BROKEN"
                return c.state

    def _stop(self, c: Component) -> None:
        """Shutdown within its Timeout, then every process the lifecycle forked ends."""
        self._step(c, "Shutdown")
        for proc in c.tracked:
            self._end(proc)
        c.tracked.clear()
        c.state = "FINISHED"

    def _env(self, c: Component, step: dict[str, Any] | str, values: dict[str, str]) -> dict[str, str]:
        env = dict(self.device_env)
        env.update({"AWS_CONTAINER_CREDENTIALS_FULL_URI": self.tes.uri, "AWS_CONTAINER_AUTHORIZATION_TOKEN": self.tes.token,
                    "AWS_REGION": self.region, "AWS_DEFAULT_REGION": self.region, "SVCUID": "svcuid",
                    "AWS_IOT_THING_NAME": self.thing})
        for scope in (c.lifecycle.get("Setenv", {}), step.get("Setenv", {}) if isinstance(step, dict) else {}):
            env.update({k: str(rules.interpolate(v, values, c.configuration, self.interpolation_errors))
                        for k, v in scope.items()})
        return env

    def _step(self, c: Component, name: str, background: bool = False, keep: bool = False) -> int | None:
        step = c.lifecycle.get(name)
        if step is None:
            return None
        values = {"artifacts:path": str(c.artifacts), "artifacts:decompressedPath": str(c.artifacts),
                  "work:path": str(c.work), "iot:thingName": self.thing}
        step = rules.interpolate(step, values, c.configuration, self.interpolation_errors)
        script = step if isinstance(step, str) else step["Script"]
        if isinstance(step, dict) and "Skipif" in step:
            kind, _, what = step["Skipif"].strip().partition(" ")
            if (kind == "exists" and Path(what.strip()).exists()) or \
                    (kind == "onpath" and subprocess.run(["sh", "-c", f"command -v {what.strip()}"]).returncode == 0):
                c.steps.append((name, 0))
                return 0
        argv = ["sh", "-c", script]
        if c.run_with:  # Exec.withUser: sudo, the user's own groups (-g its primary or the one given)
            user, _, group = c.run_with.partition(":")
            group = group or grp.getgrgid(pwd.getpwnam(user).pw_gid).gr_name
            argv = ["sudo", "-n", "-E", "-H", "-u", user, "-g", group, "--", *argv]
        with c.log.open("ab") as log:
            log.write(f"--- {name}\n".encode())
            log.flush()
            proc = subprocess.Popen(argv, env=self._env(c, step, values), stdout=log, stderr=subprocess.STDOUT,
                                    cwd=c.work, start_new_session=True)
        if background or keep:
            c.tracked.append(proc)
        if background:
            threading.Thread(target=proc.wait, daemon=True).start()
            return None
        default = rules.DEFAULT_TIMEOUT[name.lower()]
        timeout = int(step.get("Timeout", default)) if isinstance(step, dict) else default
        try:
            code = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self._end(proc)
            code = -1
        c.steps.append((name, code))
        return code

    @staticmethod
    def _end(proc: subprocess.Popen[bytes], grace: float = rules.GRACE) -> None:
        """Exec.close(): SIGTERM to the process tree, SIGKILL after the grace."""
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()
