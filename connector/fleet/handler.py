"""`dadc-job-handler`: the same verdict for users who run the AWS IoT Device Client and its jobs
feature instead of `dadc run --jobs`. The Device Client runs a handler of its handler directory
(a `runHandler` step) and reports SUCCEEDED when it exits 0, FAILED otherwise, with its output.

    dadc-job-handler DADC-JOB-DOCUMENT [DADC-DEPLOY-OPTION ...]

The first argument is dadc's job document (schemas/job-document.json) as text; the rest are
`dadc deploy` options (--destination, --state-dir, --mqtt ...). A deploy document is checked and
its definition fetched and verified (fleet/prepare.py), then started as `dadc deploy` does, with
the document's health gate, and kept (with the last 10, under the state directory's jobs/, as
`dadc run --jobs` keeps them); a rollback document deploys the release kept before the one it
names (exit 0 and nothing done when this device does not run that release). Exit status: 0 the release runs and passed its
gate, 1 it did not (the document refused, the fetch failed, the start or its gate failed: the
gate restored the previous release), 2 bad usage."""
from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from dadc import errors


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(__doc__.split("\n\n", 2)[1].strip(), file=sys.stderr)
        return 2 if not args else 0
    from dadc import cli
    from dadc.fleet.prepare import prepare
    try:
        ready = prepare(args[0])
    except errors.DadcError as exc:
        # the Device Client knows no REJECTED: the reason says the document was refused
        print(f"dadc-job-handler: refused: {exc}", file=sys.stderr)
        return 1
    gate = [f"--{name}={ready[key]}" for name, key in (("health-gate", "healthGate"), ("health-stable", "healthStable"))
            if ready.get(key) is not None and not any(a.startswith(f"--{name}") for a in args[1:])]
    from dadc.fleet.device import ReleaseBook
    book = ReleaseBook(Path(_state_dir(args[1:])))
    if ready["operation"] == "rollback":
        if book.current() != ready["release"]:
            print(f"dadc-job-handler: this device does not run release {str(ready['release'])[:12]}: nothing to do")
            return 0
        before = book.before(str(ready["release"]))
        if before is None:
            print("dadc-job-handler: no release before it is kept on this device", file=sys.stderr)
            return 1
        raw = book.raw(before)
    else:
        import base64
        raw = base64.b64decode(str(ready["raw"]))
    with tempfile.TemporaryDirectory(prefix="dadc-job-") as folder:
        definition = Path(folder) / "definition.json"
        definition.write_bytes(raw)
        code = cli.main(["deploy", "--definition", str(definition), *gate, *args[1:]])
    if code == 0:
        book.add(raw)
    return code


def _state_dir(options: list[str]) -> str:
    """--state-dir as `dadc deploy` reads it (its default otherwise)."""
    for i, arg in enumerate(options):
        if arg == "--state-dir" and i + 1 < len(options):
            return options[i + 1]
        if arg.startswith("--state-dir="):
            return arg.split("=", 1)[1]
    from dadc.runtime.seams.state import default_state_dir
    return default_state_dir()


def entry() -> None:
    code = main()
    sys.stdout.flush()
    sys.exit(code)
