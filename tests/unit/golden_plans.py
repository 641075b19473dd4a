"""The golden plans: `dadc plan --format json`'s sequences for each version x {plain, --health-gate,
--offline-fallback, rollback --to, --prefetch with --prune-images, a gated new deployment after the
old connector's stop}, rendered with fixed paths and a fixed compose CLI, so that
every planner change shows as a diff someone reviews (scripts/gen-golden-plans writes them)."""
from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from dadc import profiles
from dadc.domain.release import Source
from dadc.plan import Observed, PlanOptions, plan_rollback, plan_start, plan_stop
from dadc.planview import to_json

FOLDER = Path(__file__).resolve().parent / "golden"
DEST = Path("/srv/dadc/app")
STATE = Path("/var/lib/dadc/projects/0123456789abcdef")
VARIANTS = {"plain": PlanOptions(), "health-gate": PlanOptions(health_gate=60.0, health_stable=10.0),
            "offline-fallback": PlanOptions(offline_fallback=True),
            "rollback-to": PlanOptions(health_gate=60.0, to="3"),
            "prefetch-prune": PlanOptions(prefetch=True, prune_images=True),
            "new-deployment": PlanOptions(health_gate=60.0, health_stable=10.0, after_stop=True)}
SEEN = Observed(previous_file=True, project_running=True, last_good=True, failed_release=True)
PARAMS = {"DockerComposeFileS3Bucket": "bucket", "DockerComposeFileS3Key": "app/docker-compose.yml",
          "DockerComposeFileDestinationPath": str(DEST), "ForceDeploy": "true",
          "AWSSecretsArnList": '["arn:aws:secretsmanager:us-east-1:123456789012:secret:registry-AbCdEf"]'}


def _context(version: int) -> Any:
    """What the plan's views read of a context, fixed."""
    project = profiles.project_name()

    def argv(action: str, file: Path) -> list[str]:
        extra = {"up": ["up", "-d"], "down": ["down"], "pull": ["pull"], "config": ["config"]}[action]
        return ["docker", "compose", "-p", project, "-f", str(file), "--project-directory", str(DEST), *extra]
    profile = profiles.get(version)
    params = {k: v for k, v in PARAMS.items() if k in profile.parameter_names}
    config = SimpleNamespace(profile=profile, params=params,
                             secret_arns=lambda: json.loads(params.get("AWSSecretsArnList", "[]")))
    return SimpleNamespace(
        config=config, project=project, source=lambda version_id=None: Source("bucket", "app/docker-compose.yml"),
        ws=SimpleNamespace(state=SimpleNamespace(incoming=STATE / "incoming-docker-compose.yml", root=STATE)),
        dest=SimpleNamespace(compose_file=DEST / "docker-compose.yml", root=DEST),
        file=lambda which: STATE / "incoming-docker-compose.yml" if which == "incoming" else DEST / "docker-compose.yml",
        compose_argv=argv)


def render(version: int, variant: str) -> dict[str, Any]:
    ctx, options = _context(version), VARIANTS[variant]
    profile, params = ctx.config.profile, ctx.config.params
    sequences = {"start": plan_start(profile, params, SEEN, options),
                 "stop": plan_stop(profile, params, SEEN, options),
                 "rollback": plan_rollback(profile, options)}
    return {name: [to_json(ctx, s) for s in steps] for name, steps in sequences.items()}


def path(version: int, variant: str) -> Path:
    return FOLDER / f"plan-v{version}-{variant}.json"


def write() -> list[Path]:
    FOLDER.mkdir(exist_ok=True)
    written = []
    for version in profiles.known_versions():
        for variant in VARIANTS:
            target = path(version, variant)
            target.write_text(json.dumps(render(version, variant), indent=1) + "\n")
            written.append(target)
    return written
