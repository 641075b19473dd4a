"""The recording `docker` and `docker-compose` of the conformance harness, in one place.

Every call appends one line to $DADC_JOURNAL: tool, argv, the hash of the compose file given
with -f, and whether a password came on stdin ("yes"/"no"; never the password itself). With
$DADC_REAL_DOCKER / $DADC_REAL_COMPOSE (the docker engine) the real CLI then runs; otherwise
this fakes an engine whose state sits beside $DADC_FAKE_STATE:

  $DADC_FAKE_STATE           the hash of the compose file that is up, then one line per
                             service: NAME BEHAVIOUR IMAGE IMAGE-ID
  $DADC_FAKE_STATE.images    the local images: REF ID
  $DADC_FAKE_STATE.registry  what the registry has served: REF ID (default: an id of the ref)

BEHAVIOUR (the dadc.behaviour label) is what `inspect` says of the container: healthy,
unhealthy, exits, oneshot (exited 0, restart policy no), crashloop, probe (healthy while
$DADC_FAKE_DEST/probe/healthy exists) or none. $DADC_FAKE_OFFLINE: the registries that do not
answer (hosts, comma-separated; "1": none answers).

The recorded engine calls `call()` in-process, behind dadc's process seam (a fork and exec per
command was most of its time); `install_fakes()` makes executables of `main()` for whoever needs
programs (the contract test, the fleet bench, the docker engine's recording). The package imports
only the standard library, so they start with `python -E -S`. What it accepts and refuses is held to
the real tools' by tests/integration/test_fake_contract.py; `COMMANDS` lists what it implements.
"""
from __future__ import annotations

import os
import sys
from typing import Mapping, Sequence

from .compose import COMPOSE, Compose
from .docker import DOCKER, Docker
from .state import Reply

COMMANDS = {f"docker {name}" for name in DOCKER} | {f"compose {name}" for name in COMPOSE}
TOOLS: dict[str, type[Docker] | type[Compose]] = {"docker": Docker, "docker-compose": Compose}


def call(argv: Sequence[str], stdin: str | None, env: Mapping[str, str], cwd: str | None = None) -> Reply | None:
    """Run argv if it names a fake tool (by its base name), or None: not one of ours."""
    tool = TOOLS.get(os.path.basename(argv[0])) if argv else None
    if tool is None:
        return None
    return tool(env, cwd).call(list(argv[1:]), stdin)


def main() -> int:
    tool, argv = sys.argv[1], sys.argv[2:]
    stdin = sys.stdin.read() if "--password-stdin" in argv else None
    reply = call([tool, *argv], stdin, os.environ)
    assert reply is not None, tool
    code, out, err = reply
    sys.stdout.write(out)
    sys.stderr.write(err)
    return code
