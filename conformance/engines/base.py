"""What both engines share: the recording executables, steps run through dadc's own runtime."""
from __future__ import annotations

import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any, Iterator

from dadc.conformance.behaviour_cases import BehaviourCase, compare, file_hash, normalise
from dadc.options import RuntimeOptions
from dadc.runtime import context, starting, stopping
from dadc.runtime.context import Hooks

ARN = "arn:aws:greengrass:us-east-1::/connectors/DockerApplicationDeployment/versions/{}"
KEY = "conformance/docker-compose.yml"
# what the recording docker and compose read: passed by name, as an operator passes a variable
HARNESS_ENV = ("DADC_JOURNAL", "DADC_FAKE_STATE", "DADC_FAKE_DEST", "DADC_FAKE_OFFLINE", "DADC_REAL_DOCKER",
               "DADC_REAL_COMPOSE")
DEFINITION_KEY = "conformance/definition.json"


class EngineError(Exception):
    """The harness itself broke (exit 3), as opposed to a case failing."""


class Skip(Exception):
    """A case this engine cannot run here; the message is the named reason."""


class CapturingSink:
    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    def publish(self, payload: dict[str, Any]) -> None:
        self.messages.append(payload)

    def close(self, timeout: float = 5.0) -> None:
        pass


@contextmanager
def patched_environ(**values: str | None) -> Iterator[None]:
    saved = dict(os.environ)
    for key, value in values.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


class Engine:
    """Runs one case: upload, start and stop through dadc.runtime.s starting and stopping, journal, compare."""

    name = "base"
    images: dict[str, str] = {}
    cli_generation = 2  # the compose CLI generation the engine runs (the recorded one fakes v2)

    def __init__(self, compose_files: dict[str, Any]) -> None:
        self.compose_files = compose_files

    # engine-specific hooks
    def put_object(self, bucket: str, text: str, key: str = KEY) -> str: raise NotImplementedError
    def make_secrets(self, registry: str = "private") -> str: raise NotImplementedError
    def running(self, work: Path, names: dict[str, str]) -> str | None: raise NotImplementedError
    def environment(self, work: Path) -> dict[str, str | None]: raise NotImplementedError
    def cloud(self) -> Any: return None  # None: dadc's own (boto3)
    def offline(self) -> Any: return _null()  # S3 and the registries out of reach, for one step
    def registry_down(self) -> Any: return _null()  # only the flaky registry out of reach
    def pause(self, seconds: float) -> None: time.sleep(seconds)
    def remove_images(self, text: str) -> None: raise NotImplementedError
    def image_ids(self) -> set[str]: raise NotImplementedError  # of the project's running containers
    def retag(self, image: str) -> None: raise NotImplementedError  # the same tag, new content, pushed
    def clock(self) -> float: return time.monotonic()
    def compose_command(self) -> str: return "docker-compose"
    def make_sink(self) -> Any: return CapturingSink()
    def run_session(self) -> Any: return _null()

    @contextmanager
    def tools(self, work: Path) -> Iterator[None]:
        """The recording docker and compose, first on PATH (the docker engine's run the real ones)."""
        bin_dir = install_fakes(work / "bin")
        with patched_environ(PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"):
            yield
    def reset(self) -> None: pass

    def render(self, name: str) -> str:
        return self._render_text(self.compose_files["files"][name])

    def _render_text(self, text: str) -> str:
        for key, value in self.images.items():
            text = text.replace("{" + key + "}", value)
        return text

    def run_case(self, case: BehaviourCase) -> tuple[list[str], list[str], list[dict[str, Any]], str | None]:
        """(problems, normalised commands, the recorded steps' status messages, what runs at the end)."""
        work = Path(tempfile.mkdtemp(prefix="dadc-conformance-"))
        try:
            with patched_environ(**self.environment(work)):
                self.reset()
                return self._run(case, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def hooks(self) -> Hooks:
        """The engine's cloud and time, for dadc's runtime."""
        return Hooks(self.cloud(), self.pause, self.clock)

    def _options(self, case: BehaviourCase, definition: str, work: Path) -> RuntimeOptions:
        extra = {key.replace("-", "_"): value for key, value in case.spec.get("options", {}).items()}
        return RuntimeOptions(definition=definition, compose_command=self.compose_command(), stop_timeout=120,
                              compose_env=HARNESS_ENV, state_dir=str(work / "state-dir"), **extra)

    def _run(self, case: BehaviourCase, work: Path) -> tuple[list[str], list[str], list[dict[str, Any]], str | None]:
        journal = work / "journal"
        journal.touch()
        dest = work / "dest"
        dest.mkdir(mode=0o700)
        names = {file_hash(self.render(n)): n for n in self.compose_files["files"]}
        names[file_hash(self.compose_files["corrupt"])] = "corrupt"
        params = {"DockerComposeFileS3Bucket": "dadc-conformance", "DockerComposeFileS3Key": KEY,
                  "DockerComposeFileDestinationPath": str(dest)}
        secrets = {"{registry_secrets}": "private", "{flaky_secrets}": "flaky", "{wrong_secrets}": "wrong"}
        for key, value in case.spec.get("parameters", {}).items():
            params[key] = self.make_secrets(secrets[value]) if value in secrets else value
        text = json.dumps({"Connectors": [{"Id": "conformance", "ConnectorArn": ARN.format(case.version),
                                           "Parameters": params}]})
        if case.spec.get("definition") == "s3":  # read through the same cloud as the compose file
            self.put_object("dadc-conformance", text, DEFINITION_KEY)
            options = self._options(case, f"s3://dadc-conformance/{DEFINITION_KEY}", work)
        else:
            definition = work / "definition.json"
            definition.write_text(text)
            options = self._options(case, str(definition), work)
        run = UnderRun(self, options, work / "definition.json", case.version) if case.spec.get("under") == "run" else None
        commands: list[str] = []
        messages: list[dict[str, Any]] = []
        images: dict[str, set[str]] = {}
        last = ""
        # each case's engine is its own (the recorded engine's a fake per case): so is the project's lock
        with self.tools(work), patched_environ(DADC_JOURNAL=str(journal), DADC_FAKE_STATE=str(work / "state"),
                                               DADC_FAKE_DEST=str(dest), DADC_LOCK_DIR=str(work / "locks")):
            for step in case.spec["steps"]:
                mark = len(journal.read_text().splitlines())
                sink = self.make_sink()
                if "deploy" in step:
                    last = self.render(step["deploy"])
                    version = self.put_object("dadc-conformance", last) if not step.get("offline") else ""
                    away = self.offline() if step.get("offline") else self.registry_down() \
                        if step.get("registry_down") else _null()
                    with away:
                        if run is not None:  # a new definition naming this version: a new deployment
                            run.deploy(params, version, sink)
                        else:
                            starting.start(options, sink, hooks=self.hooks())
                    if "mark" in step:
                        images[step["mark"]] = self.image_ids()
                elif step.get("reload"):
                    assert run is not None, "a reload is a step of a case under dadc run"
                    run.reload(sink)
                elif step.get("stop"):
                    stopping.stop_definition(options, self.hooks())
                elif "rollback" in step:  # `dadc rollback [--to REF]`: the planned sequence, as the CLI runs it
                    self._rollback(options, step["rollback"], sink)
                elif step.get("corrupt"):
                    (dest / "docker-compose.yml").write_text(self.compose_files["corrupt"])
                elif step.get("remove_images"):
                    self.remove_images(last)
                elif "unplace" in step:
                    for name in step["unplace"]:
                        (dest / name).unlink()
                elif "retag" in step:
                    self.retag(self.images[step["retag"]])
                elif "place" in step:
                    for name in step["place"]:
                        target = dest / name
                        target.parent.mkdir(parents=True, exist_ok=True)
                        target.write_text(self._render_text(self.compose_files["support"][name]))
                published = sink.messages  # drained every step, so none arrives during the next one
                if step.get("record"):
                    commands += normalise(journal.read_text().splitlines()[mark:], names)
                    messages += published
            if "image_as" in case.expect:
                images["now"] = self.image_ids()
            running = self.running(work, names)
            if run is not None:
                run.close()
        return compare(case, commands, messages, running, images), commands, messages, running


    def _rollback(self, options: RuntimeOptions, to: str, sink: Any) -> None:
        from dadc.errors import DadcError
        from dadc.plan import plan_rollback
        from dadc.runtime import executor
        from dadc.runtime.handlers.recovery import restored
        from dadc.runtime.session import Session
        from dadc.runtime.status import failure
        rollback_options = replace(options, to=to or None)
        try:
            ctx = context.for_options(rollback_options, self.hooks())
            session = Session()
            with ctx.lock():
                ctx.ws.prepare()
                executor.execute(ctx, plan_rollback(ctx.config.profile, ctx.plan_options), session)
            sink.publish({"status": "rolled back", "to": restored(session)})
        except DadcError as exc:  # as the CLI says it, in the shape of a status message
            sink.publish(failure(str(exc), exc.error))


class UnderRun:
    """A case under `dadc run`: each deploy step is a new definition (naming the compose file's new
    S3 version) that the one Runner reads; a reload step is its SIGHUP. Its starts run in-process
    (not in a `dadc deploy` child), on this engine, exactly as the child would run them."""

    def __init__(self, engine: Engine, options: RuntimeOptions, definition: Path, version: int) -> None:
        from dadc.runtime import definitions, lifecycle
        from dadc.runtime.seams import aws
        self.engine, self.path, self.version = engine, definition, version
        self.options = options if options.definition == str(definition) else replace(options, definition=str(definition))
        self.sink = CapturingSink()
        self.path.write_text("{}")
        self.runner = lifecycle.Runner(
            self.options, definitions.resolve(self.options, aws.factory(None, engine.cloud())), self.sink,
            lambda config: context.build(config, self.options, engine.hooks()), start=self._start)

    def _start(self, ctx: context.Context, raw: bytes, overrides: dict[str, Any]) -> int:
        options = replace(self.options, **overrides)  # as the child's command line would say
        return starting.exit_code(starting.start(options, self.runner.sink, hooks=self.engine.hooks(),
                                                 take_lock=False, config=ctx.config))

    def deploy(self, params: dict[str, str], s3_version: str, sink: Any) -> None:
        """s3_version '': an offline step uploads nothing, and the definition stays as it was."""
        if s3_version:
            pinned = {**params, "DockerComposeFileS3Version": s3_version}
            self.path.write_text(json.dumps({"Connectors": [{"Id": "conformance", "ConnectorArn": ARN.format(self.version),
                                                             "Parameters": pinned}]}))
        self.reload(sink)

    def reload(self, sink: Any) -> None:
        self.runner.sink = sink
        self.runner.reload()

    def close(self) -> None:
        if self.runner.lock is not None:
            self.runner.lock.release()


def install_fakes(bin_dir: Path) -> Path:
    """The recording docker and docker-compose (conformance/engines/fakes) as executables, for what
    runs them as programs: the docker engine's recording, the contract test, the fleet bench. Each
    runs this interpreter with -E -S (no site: the fakes need only the standard library)."""
    from dadc.conformance.engines import fakes
    folder = Path(fakes.__file__).resolve().parent  # loaded from its own folder, as a package of its own
    bin_dir.mkdir()
    code = ("import sys, importlib.util as u; "
            f"s = u.spec_from_file_location('dadc_fakes', {str(folder / '__init__.py')!r}, "
            f"submodule_search_locations=[{str(folder)!r}]); m = u.module_from_spec(s); "
            "sys.modules['dadc_fakes'] = m; s.loader.exec_module(m); sys.exit(m.main())")
    for tool in ("docker", "docker-compose"):
        target = bin_dir / tool
        target.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -E -S -c {shlex.quote(code)} {tool} \"$@\"\n")
        target.chmod(0o755)
    return bin_dir


@contextmanager
def _null() -> Iterator[None]:
    yield


@contextmanager
def quiet() -> Iterator[None]:
    """dadc's own logs are the cases' business, not the report's; restored afterwards."""
    logger = logging.getLogger("dadc")
    saved = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(saved)
