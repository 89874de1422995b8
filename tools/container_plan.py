"""`make deploy-<gpu> DRY_RUN=1`: print every command a container profile's deploy runs, in order.

    python -m tools.container_plan --profile a100 [--engine docker|podman] [--workspace PATH]

Works on any machine (nothing runs). The commands come from params.yaml (the profile's sweeps and
`containers`), docker/pins.yaml and the families' in-image steps (repro/containers/plan.py).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import paths
from repro.containers.engine import Engine, detect
from repro.containers.pins import load_pins
from repro.containers.plan import deploy_plan, render
from repro.errors import UserError
from repro.params import load_params
from repro.profiles.catalog import get_profile
from tools.run_profile import stage_commands


def engine_name(preference: str) -> str:
    """The engine the plan is written for: the preference, else the installed one, else docker (a dry run
    needs none installed)."""
    if preference != "auto":
        return preference
    try:
        return detect("auto")
    except UserError:
        return "docker"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--params", type=Path, default=paths.ROOT / "params.yaml")
    parser.add_argument("--engine", choices=("auto", "docker", "podman"), default=None,
                        help="default: params.yaml containers.engine")
    parser.add_argument("--workspace", type=Path, default=paths.ROOT, help="the checkout's path on the GPU host")
    parser.add_argument("--uid", type=int, default=None)
    parser.add_argument("--gid", type=int, default=None)
    a = parser.parse_args(argv)
    try:
        params = load_params(a.params)
        profile = get_profile(params, a.profile)
        if profile.runtime != "container":
            raise UserError(f"profile '{a.profile}' does not run in containers (runtime {profile.runtime}); "
                            f"`make deploy-{a.profile}` runs it.")
        c = params["containers"]
        ids = {k: v for k, v in (("uid", a.uid), ("gid", a.gid)) if v is not None}
        engine = Engine(engine_name(a.engine or c["engine"]), a.workspace, shm_size=c["shm_size"], **ids)
        steps = deploy_plan(params, profile, engine, load_pins(),
                            lambda stages, python: stage_commands(paths.ROOT / "dvc.yaml", a.profile, stages, python))
    except UserError as exc:
        print(f"deploy-{a.profile}: error: {exc}", file=sys.stderr)
        return 2
    print(render(steps, profile), end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
