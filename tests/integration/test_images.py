"""--prefetch and --prune-images on the real engine and registries: a registry that cannot be reached
fails the start while the previous release still runs; a prune takes only what no recorded release,
no rollback target and no container needs, and says how much it freed."""
from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.integration.bed import Bed, Events, compose_text, containers, first, statuses
from tests.integration.conftest import docker
from tests.integration.test_runtime import deploy_ok

GONE = "127.0.0.1:9/dadc/gone:1"  # nothing listens on port 9: the connection is refused


def build(ref: str, base: str, blob_mb: int = 0, label: str = "") -> str:
    """A local image with its own layer of blob_mb random megabytes (so removing it frees space)."""
    lines = [f"FROM {base}", f"LABEL dadc.test={label or ref}"]
    if blob_mb:
        lines.append(f"RUN dd if=/dev/urandom of=/blob bs=1048576 count={blob_mb} 2>/dev/null")
    done = subprocess.run(["docker", "build", "-q", "-t", ref, "-"], input="\n".join(lines) + "\n", text=True,
                          capture_output=True, check=True, timeout=300)
    return done.stdout.strip()


def present(ref: str) -> bool:
    return docker("image", "inspect", ref, check=False).returncode == 0


def test_prefetch_fails_an_unreachable_registry_before_anything_stops(bed: Bed) -> None:
    """v4 pulls after its stop: as documented, a registry out of reach is seen only once the app is
    down. With --prefetch the start fails first and the containers are the very same ones."""
    definition = bed.definition(4)
    bed.put(compose_text({"web": bed.open_image}))
    deploy_ok(bed, definition)
    running = containers(running_only=True)
    bed.put(compose_text({"web": bed.open_image, "new": GONE}))
    events = Events().start()
    proc = bed.dadc("deploy", "--definition", str(definition), "--prefetch", "--health-gate", "30")
    seen = events.stop()
    assert proc.returncode == 1, proc.stderr[-2000:]
    status = statuses(proc.stdout)[-1]
    assert status["error"] == "InternalError", status
    assert "prefetch failed" in status["error_message"] and "the previous release still runs" in status["error_message"]
    assert first(seen, "container", "kill") == first(seen, "container", "destroy") == -1, seen
    assert containers(running_only=True) == running
    # nothing was recorded as failed: the release never ran, and the next start tries it again
    assert "# failed:" not in bed.dadc("status", "--definition", str(definition)).stdout
    # the documented v4 sequence without the option: the app is down before the pull fails
    proc = bed.dadc("deploy", "--definition", str(definition))
    assert proc.returncode == 1 and containers(running_only=True) == []


def test_prefetch_pulls_what_up_would_pull_from_a_private_registry_before_the_stop(
        bed: Bed, pushed_image: str, registry_secret: str, unique: str) -> None:
    """v1 never pulls: up fetches the images the engine lacks. --prefetch fetches those, logged in with
    the definition's secret, before the stop, and leaves a stale tag stale (v1 runs what it has)."""
    stale = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/stale:{unique}"
    old_id = build(stale, bed.env["DADC_BASE_IMAGE"], label=f"old-{unique}")
    docker("push", stale)
    build(stale, bed.env["DADC_BASE_IMAGE"], label=f"new-{unique}")
    docker("push", stale)  # the registry now has a newer image under the tag
    docker("tag", old_id, stale)  # the engine keeps the old one
    definition = bed.definition(1, AWSSecretsArnList=json.dumps([registry_secret]))
    bed.put(compose_text({"web": bed.open_image}))
    deploy_ok(bed, definition)
    bed.put(compose_text({"web": stale, "api": pushed_image}))
    events = Events().start()
    proc = deploy_ok(bed, definition, "--prefetch")
    seen = events.stop()
    pulls = [e[2] for e in seen if e[:2] == ("image", "pull")]
    assert pulls and all(pushed_image.rsplit(":", 1)[0] in p for p in pulls), seen
    assert first(seen, "image", "pull") < first(seen, "container", "destroy"), seen
    assert {c["image"] for c in containers(running_only=True)} == {old_id, docker(
        "image", "inspect", "--format", "{{.Id}}", pushed_image).stdout.strip()}
    assert bed.env["DADC_REGISTRY_PASSWORD"] not in proc.stdout + proc.stderr


def test_prefetch_with_an_image_by_digest_and_a_local_build(bed: Bed, tmp_path: Path, unique: str) -> None:
    """v4 pulls every registry image after its stop: the prefetch pulls the same (by digest here)
    before it, and leaves the built service to up."""
    digest = next(d for d in json.loads(docker("image", "inspect", "--format", "{{json .RepoDigests}}",
                                               bed.env["DADC_BASE_IMAGE"]).stdout)
                  if d.startswith(bed.env["DADC_OPEN_REGISTRY"] + "/"))
    definition = bed.definition(4)
    bed.put(compose_text({"web": bed.open_image}))
    deploy_ok(bed, definition)
    (bed.dest / "built").mkdir()
    (bed.dest / "built" / "Dockerfile").write_text(f"FROM {bed.env['DADC_BASE_IMAGE']}\nLABEL dadc.test={unique}\n")
    bed.put(compose_text({"web": digest}) + "  made:\n    build: ./built\n    image: dadc-made-" + unique + "\n"
            "    command: [\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]\n")
    events = Events().start()
    proc = deploy_ok(bed, definition, "--prefetch")
    seen = events.stop()
    assert "prefetch: " in proc.stderr and "present before the stop" in proc.stderr
    assert 0 <= first(seen, "image", "pull") < first(seen, "container", "destroy"), seen
    assert len(containers(running_only=True)) == 2
    docker("rmi", f"dadc-made-{unique}", check=False)


def test_prune_takes_only_what_nothing_needs_and_says_what_it_freed(bed: Bed, unique: str) -> None:
    repo = f"{bed.env['DADC_OPEN_REGISTRY']}/dadc/prune-{unique}"
    base = bed.env["DADC_BASE_IMAGE"]
    one, two = build(f"{repo}:1", base), build(f"{repo}:2", base)
    old = build(f"{repo}:old", base, blob_mb=3)  # the project's repository, never deployed: prunable
    shared = build(f"{repo}:shared", base, blob_mb=1)
    docker("tag", shared, f"dadc/other-{unique}:1")  # also someone else's: kept
    used = build(f"{repo}:used", base, blob_mb=1)
    outsider = f"dadc-outsider-{unique}"
    docker("create", "--name", outsider, f"{repo}:used")  # a container of no project uses it: kept
    try:
        definition = bed.definition(1)
        bed.put(compose_text({"web": f"{repo}:1"}))
        deploy_ok(bed, definition)
        bed.put(compose_text({"web": f"{repo}:2"}))
        proc = deploy_ok(bed, definition, "--prune-images")
        line = next(x for x in proc.stderr.splitlines() if "prune-images: removed" in x)
        assert "removed 1 images" in line and f"{repo}:old" in line, line
        freed = float(re.search(r"freed ([0-9.]+) MB", line)[1])  # type: ignore[index]
        assert 2.5 <= freed <= 4.0, line  # the 3 MB layer, as the engine counts it
        assert not present(old)
        assert all(present(ref) for ref in (f"{repo}:1", f"{repo}:2", f"{repo}:shared", f"{repo}:used", base))
        # the release before is a rollback target: its image was kept, so it comes back
        proc = bed.dadc("rollback", "--definition", str(definition))
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert [c["image"] for c in containers(running_only=True)] == [one]
        # nothing more to take: the next prune says so
        bed.put(compose_text({"web": f"{repo}:2", "again": f"{repo}:2"}))
        proc = deploy_ok(bed, definition, "--prune-images")
        assert "prune-images: nothing to remove" in proc.stderr and present(f"{repo}:1")
    finally:
        docker("rm", "-f", outsider, check=False)
        for ref in (f"{repo}:1", f"{repo}:2", f"{repo}:shared", f"dadc/other-{unique}:1", f"{repo}:used"):
            docker("rmi", ref, check=False)


def test_prefetch_from_ecr_logs_in_with_a_fresh_token_first(bed: Bed) -> None:
    """An ECR image under v4: the login (the token exchange) comes before the prefetch, which pulls
    from the ECR look-alike before the stop; the token is never shown."""
    ecr = f"{bed.env['DADC_ECR_HOST']}/{bed.env['DADC_BASE_IMAGE']}"
    definition = bed.definition(4)
    bed.put(compose_text({"web": bed.open_image}))
    deploy_ok(bed, definition)
    docker("rmi", ecr)  # only the tag: the engine has it under other names, the registry still has it
    bed.put(compose_text({"web": ecr}))
    events = Events().start()
    proc = deploy_ok(bed, definition, "--prefetch")
    seen = events.stop()
    assert f"logged in to {bed.env['DADC_ECR_HOST']} as AWS (ECR)" in proc.stderr
    pulls = [i for i, e in enumerate(seen) if e[:2] == ("image", "pull") and bed.env["DADC_ECR_HOST"] in e[2]]
    assert pulls and pulls[0] < first(seen, "container", "destroy"), seen
    assert present(ecr) and "123456789012-auth-token" not in proc.stdout + proc.stderr
