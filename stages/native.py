"""Stage `native`: the seed-004 comparison on this profile. Server-side compute-infer latency by
batch size for the whole model served natively in its framework versus the converted ensembles, in
the seed-004 layout with a speedup column (the family defines the served variants and the table).
A profile without a `native` section writes only a note saying so.

    python -m stages.native --profile cpu --repos triton_repos/cpu --data artifacts/data --out results/cpu/native
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.errors import UserError
from repro.families import family_of
from repro.measure.campaign import measure_group
from repro.measure.scenarios import offline
from repro.measure.perf_analyzer import PerfSettings, measured_frame
from repro.params import load_params
from repro.profiles.catalog import get_profile


def build(profile_name: str, repos: Path, data: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params, profile_name)
    with atomic.replace_dir(out) as staging:
        if not profile.native:
            (staging / "NOT_MEASURED.md").write_text(f"No native-vs-converted comparison on profile {profile.name}: "
                                                     f"params.yaml 'profiles.{profile.name}.native' is not set.\n")
            progress("native", f"profile {profile.name} has no native section: nothing to measure")
            return
        for model in profile.native["models"]:
            family = family_of(params, model)
            if not family.native_comparison:
                raise UserError(f"params.yaml: 'profiles.{profile.name}.native.models' lists {model}, whose family "
                                f"'{family.name}' has no native-vs-converted comparison; remove it there")
            sweep = [offline(profile.native["batch_sizes"], profile.perf["concurrency"])]
            frames = {}
            for group in family.native_groups(model, repos, data, params, profile):
                rows, _ = measure_group(group, staging, sweep, PerfSettings.from_params(profile.perf))
                frames.update({name: measured_frame(model_rows) for name, model_rows in rows.items()})
            for name, frame in frames.items():
                atomic.write_csv(staging / f"{name}.csv", frame)
            atomic.write_csv(staging / f"{model}_native_vs_ensemble.csv", family.native_table(frames, model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of params.yaml 'profiles'")
    for flag in ("--repos", "--data", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("native", lambda: build(a.profile, a.repos, a.data, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
