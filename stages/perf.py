"""Stage `perf`: offline perf_analyzer measurements of every served ensemble (concurrency 1,
system shared memory, the profile's batch sizes) through the real Triton server.

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
from repro.families.criteo.dataset import read_split
from repro.measure.labels import row_labels
from repro.measure.campaign import measure_models
from repro.params import load_params
from repro.measure.perf_analyzer import PerfSettings, measured_frame, summary_metrics, write_input_data
from repro.profiles.catalog import get_profile

VARIANTS = ("tf", "hps")


def build(repos: Path, data: Path, out: Path, summary: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params["profile"])
    frames: dict[str, pd.DataFrame] = {}
    with atomic.replace_dir(out) as staging:
        write_input_data(read_split(data, "test"), staging / "input_data.json")
        for model in params["train"]["models"]:
            labels = {f"{model}_{v}": row_labels(profile, v, params["convert"]["precision"]) for v in VARIANTS}
            rows, breakdown = measure_models(list(labels), repos / "local", staging, staging / "input_data.json",
                                             params["perf"]["batch_sizes"], PerfSettings.from_params(params), labels,
                                             f"server_{model}")
            for name, model_rows in rows.items():
                frames[name] = measured_frame(model_rows)
                atomic.write_csv(staging / f"{name}.csv", frames[name])
            atomic.write_csv(staging / f"{model}_breakdown.csv", pd.DataFrame(breakdown))
        settings = {"profile": profile.name, "preset": params["data"]["preset"],
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
