"""Stage `native`: the seed-004 comparison on this machine. Server-side compute-infer latency by
batch size for the whole model served natively in TensorFlow (one python-backend model) versus the
converted ensembles, in the seed-004 layout with a speedup column.

    python -m stages.native --repos triton_repos/cpu --data artifacts/data --out results/cpu/native
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from repro import atomic
from repro.cli import run_stage
from repro.measure.labels import row_labels
from repro.measure.campaign import measure_models
from repro.params import load_params
from repro.families.criteo.dataset import read_split
from repro.measure.perf_analyzer import PerfSettings, measured_frame, write_input_data
from repro.profiles.catalog import get_profile

COLUMNS = {"native_tf": "Native TF", "tf": "TF sparse + ORT dense ensemble", "hps": "HPS-file sparse + ORT dense ensemble"}
SPEEDUP = "Speedup - HPS-file ensemble to Native TF"


def comparison_table(rows: dict[str, list[dict]], model: str) -> pd.DataFrame:
    """Seed-004 layout: batch, compute-infer µs per method, speedup of the fastest converted path."""
    frames = {variant: measured_frame(rows[f"{model}_{variant}"]).set_index("Batch")["Server Compute Infer"]
              for variant in COLUMNS}
    table = pd.DataFrame({COLUMNS[v]: frames[v] for v in COLUMNS}).round().astype(int)
    table[SPEEDUP] = (table[COLUMNS["native_tf"]] / table[COLUMNS["hps"]]).round(2)
    return table.rename_axis("Batch size").reset_index()


def build(repos: Path, data: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params["profile"])
    with atomic.replace_dir(out) as staging:
        input_data = staging / "input_data.json"
        write_input_data(read_split(data, "test"), input_data)
        for model in params["native"]["models"]:
            labels = {f"{model}_{v}": row_labels(profile, v, params["convert"]["precision"]) for v in COLUMNS}
            rows, _ = measure_models(list(labels), repos / "local", staging, input_data,
                                     params["native"]["batch_sizes"], PerfSettings.from_params(params), labels,
                                     f"server_{model}")
            for name, model_rows in rows.items():
                atomic.write_csv(staging / f"{name}.csv", measured_frame(model_rows))
            atomic.write_csv(staging / f"{model}_native_vs_ensemble.csv", comparison_table(rows, model))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--repos", "--data", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("native", lambda: build(a.repos, a.data, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
