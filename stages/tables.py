"""Stage `tables`: render measured results like the published ones (heading naming what really ran,
parameter table, results table), SVG plots, and a provenance JSON per result. Rebuilds from the
files on disk; never re-measures.

    python -m stages.tables --perf results/cpu/perf --native results/cpu/native \
        --accuracy results/cpu/accuracy.json --out results/cpu/tables
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro import atomic, paths
from repro.report import measured as report
from repro.cli import progress, run_stage
from repro.params import load_params
from repro.report.render import render_markdown

UPSTREAM = ["data", "train@{m}", "convert@{m}", "repos", "perf"]


def accuracy_markdown(accuracy: dict) -> str:
    rows = [(name, r["auc_served"], r["auc_tensorflow"], r["abs_diff"], "pass" if r["passed"] else "FAIL")
            for name, r in sorted(accuracy["models"].items())]
    return ("#### Accuracy: served ensembles vs TensorFlow (test split, "
            f"{accuracy['test_samples']} samples, tolerance {accuracy['auc_tolerance']:g})\n\n" +
            tabulate(rows, headers=["Served model", "AUC served", "AUC TensorFlow", "abs diff", "gate"],
                     tablefmt="pipe", floatfmt=("", ".6f", ".6f", ".2e", "")) + "\n")


def build(perf: Path, native: Path, accuracy: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    preset, repos = params["data"]["preset"], params["repos"]
    settings = json.loads((perf / "settings.json").read_text())
    sections = []
    with atomic.replace_dir(out) as staging:
        for model in params["train"]["models"]:
            frames = {}
            for variant in ("tf", "hps"):
                name = f"{model}_{variant}"
                frame = pd.read_csv(perf / f"{name}.csv")
                frames[name] = frame
                text = report.measured_markdown(frame, model, preset, repos["max_batch_size"], repos["instances"])
                (staging / f"{name}.md").write_text(text)
                sections.append(text)
                report.plot_latency_breakdown(frame, staging / f"{name}_latency.svg", f"{name}: latency breakdown")
                stages = [s.format(m=model) for s in UPSTREAM]
                report.write_json(staging / f"{name}.provenance.json", report.provenance(
                    paths.ROOT, frame, settings, stages, f"dvc repro (profile {params['profile']})"))
            report.plot_throughput(frames, staging / f"{model}_throughput.svg", f"{model}: throughput vs batch")
            native_csv = native / f"{model}_native_vs_ensemble.csv"
            if native_csv.exists():
                table = render_markdown(pd.read_csv(native_csv), "native_benchmark")
                sections.append(f"#### Server compute-infer latency (us): native TF vs converted ensembles, "
                                f"{model}\n\n{table}\n")
                (staging / f"{model}_native_vs_ensemble.md").write_text(sections[-1])
        sections.append(accuracy_markdown(json.loads(accuracy.read_text())))
        (staging / "report.md").write_text(f"# Measured results: profile {params['profile']}\n\n" + "\n".join(sections))
    progress("tables", f"wrote {out}/report.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--perf", "--native", "--accuracy", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("tables", lambda: build(a.perf, a.native, a.accuracy, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
