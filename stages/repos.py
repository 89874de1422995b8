"""Stage `repos`: write the Triton model repositories of every model for one profile, each written by
the model's family in the profile's serving flavour (cpu: `local/` runnable here and `container/`,
what upstream serves; h100: one repository per configuration plus the accuracy gate).

    python -m stages.repos --profile cpu --converted artifacts/convert --engines artifacts/engine \
        --checkpoints artifacts/train --data artifacts/data --out triton_repos/cpu
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.families import family_of, served_models
from repro.families.base import RepoInputs
from repro.params import load_params
from repro.profiles.catalog import get_profile


def build(profile_name: str, converted: Path, engines: Path, checkpoints: Path, data: Path, out: Path,
          params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params, profile_name)
    manifest: dict = {"profile": profile.name, "models": {}}
    with atomic.replace_dir(out) as staging:
        for model in served_models(params, profile):
            family = family_of(params, model)
            inputs = RepoInputs(converted / model, engines / model, checkpoints / model, data / family.name)
            written = family.write_repositories(model, inputs, params, profile, staging)
            manifest["models"][model] = written
            progress("repos", f"{profile.name}: {model}: {json.dumps(written, sort_keys=True)[:160]}")
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of params.yaml 'profiles'")
    for flag in ("--converted", "--engines", "--checkpoints", "--data", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("repos", lambda: build(a.profile, a.converted, a.engines, a.checkpoints, a.data, a.out,
                                            a.params))


if __name__ == "__main__":
    sys.exit(main())
