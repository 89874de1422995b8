"""Stage `native`: the seed-004 comparison on this machine. Server-side compute-infer latency by
batch size for the whole model served natively in its framework versus the converted ensembles, in
the seed-004 layout with a speedup column (the family defines the served variants and the table).

    python -m stages.native --repos triton_repos/cpu --data artifacts/data --out results/cpu/native
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import atomic
from repro.cli import run_stage
from repro.errors import UserError
from repro.families import family_of
from repro.measure.campaign import measure_models
from repro.measure.scenarios import offline
from repro.measure.labels import labels_for
from repro.measure.perf_analyzer import PerfSettings, measured_frame
from repro.params import load_params
from repro.profiles.catalog import get_profile


def build(repos: Path, data: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params["profile"])
    with atomic.replace_dir(out) as staging:
        for model in params["native"]["models"]:
            family = family_of(params, model)
            if not family.native_comparison:
                raise UserError(f"params.yaml: 'native.models' lists {model}, whose family '{family.name}' has no "
                                "native-vs-converted comparison; remove it there")
            inputs = staging / f"input_data_{family.name}.json"
            if not inputs.exists():
                family.write_request_inputs(data / family.name, inputs)
            variants = {f"{model}_{v}": v for v in family.native_comparison}
            labels = labels_for(profile, family, variants, params["convert"]["precision"])
            sweep = [offline(params["native"]["batch_sizes"], params["perf"]["concurrency"])]
            rows, _ = measure_models(list(labels), repos / "local", staging, inputs, sweep,
                                     PerfSettings.from_params(params), labels, f"server_{model}")
            frames = {name: measured_frame(model_rows) for name, model_rows in rows.items()}
            for name, frame in frames.items():
                atomic.write_csv(staging / f"{name}.csv", frame)
            atomic.write_csv(staging / f"{model}_native_vs_ensemble.csv", family.native_table(frames, model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--repos", "--data", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("native", lambda: build(a.repos, a.data, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
