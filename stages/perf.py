"""Stage `perf`: perf_analyzer measurements of every served model through the real Triton server, in
each scenario params.yaml asks for and the model's family publishes (offline: a batch sweep at
concurrency 1; online: a concurrency sweep at one batch size), with system shared memory.

    python -m stages.perf --repos triton_repos/cpu --data artifacts/data --out results/cpu/perf \
        --summary results/cpu/perf_summary.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd

from repro import atomic
from repro.cli import run_stage
from repro.families import family_of, families_in_use
from repro.measure import scenarios
from repro.measure.campaign import measure_models
from repro.measure.labels import labels_for
from repro.measure.perf_analyzer import PerfSettings, measured_frame, summary_metrics
from repro.params import load_params
from repro.profiles.catalog import get_profile


def build(repos: Path, data: Path, out: Path, summary: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params["profile"])
    frames: dict[str, pd.DataFrame] = {}
    with atomic.replace_dir(out) as staging:
        for family in families_in_use(params):
            family.write_request_inputs(data / family.name, staging / f"input_data_{family.name}.json")
        for model in params["models"]:
            family = family_of(params, model)
            labels = labels_for(profile, family, family.perf_models(model), params["convert"]["precision"])
            rows, breakdown = measure_models(list(labels), repos / "local", staging,
                                             staging / f"input_data_{family.name}.json",
                                             scenarios.from_params(params["perf"], family.scenarios),
                                             PerfSettings.from_params(params), labels, f"server_{model}")
            for name, model_rows in rows.items():
                frames[name] = measured_frame(model_rows)
                atomic.write_csv(staging / f"{name}.csv", frames[name])
            atomic.write_csv(staging / f"{model}_breakdown.csv", pd.DataFrame(breakdown))
        presets = sorted({family.size_label(params) for family in families_in_use(params)})
        settings = {"profile": profile.name, "preset": " / ".join(p.removesuffix(" preset") for p in presets),
                    "precision": params["convert"]["precision"], **params["perf"]}
        (staging / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
    atomic.write_text(summary, json.dumps(summary_metrics(frames), indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--repos", "--data", "--out", "--summary"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("perf", lambda: build(a.repos, a.data, a.out, a.summary, a.params))


if __name__ == "__main__":
    sys.exit(main())
