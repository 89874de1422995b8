"""Stage `tables`: render measured results like the published ones (heading naming what really ran,
parameter table, results table), SVG plots, and a provenance JSON per result. Rebuilds from the
files on disk; never re-measures.

    python -m stages.tables --perf results/cpu/perf --native results/cpu/native \
        --accuracy results/cpu/accuracy.json --host results/cpu/host.json --out results/cpu/tables
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro import atomic, paths
from repro.cli import progress, run_stage
from repro.families import family_of
from repro.measure import scenarios
from repro.measure.host import summary
from repro.params import load_params
from repro.report import measured as report
from repro.report.render import render_markdown

UPSTREAM = ["data", "train@{m}", "convert@{m}", "repos", "perf"]


def accuracy_markdown(accuracy: dict) -> str:
    rows = [(name, r["metric"], r["score_served"], r["score_framework"], r["abs_diff"], r["tolerance"],
             r["test_samples"], "pass" if r["passed"] else "FAIL") for name, r in sorted(accuracy["models"].items())]
    return ("#### Accuracy: served models vs their framework (test split)\n\n" +
            tabulate(rows, headers=["Served model", "Metric", "Served", "Framework", "abs diff", "Tolerance",
                                    "Samples", "Gate"],
                     tablefmt="pipe", floatfmt=("", "", ".6f", ".6f", ".2e", "g", "", "")) + "\n")


def model_sections(model: str, perf: Path, native: Path, params: dict, settings: dict, staging: Path) -> list[str]:
    family = family_of(params, model)
    display, size, repos = family.display_names[model], family.size_label(params), params["repos"]
    sections, frames = [], {}
    tables = [scenario.table_name(name) for name in family.perf_models(model)
              for scenario in scenarios.from_params(params["perf"], family.scenarios)]
    for name in tables:
        frame = frames[name] = pd.read_csv(perf / f"{name}.csv")
        text = report.measured_markdown(frame, display, size, repos["max_batch_size"], repos["instances"],
                                        family.table_style)
        (staging / f"{name}.md").write_text(text)
        sections.append(text)
        what = f"{display}, {size}, {frame['precision'].iloc[0]} on {frame['device'].iloc[0]}"
        report.plot_latency_breakdown(frame, staging / f"{name}_latency.svg", f"{name}: latency breakdown\n{what}")
        report.write_json(staging / f"{name}.provenance.json", report.provenance(
            paths.ROOT, frame, settings, [s.format(m=model) for s in UPSTREAM],
            f"dvc repro (profile {params['profile']})"))
    offline = {name: frame for name, frame in frames.items() if name in family.perf_models(model)}
    first = next(iter(offline.values()))
    report.plot_throughput(offline, staging / f"{model}_throughput.svg",
                           f"{display} offline throughput (95% intervals)\n{size}, {first['precision'].iloc[0]} "
                           f"on {first['device'].iloc[0]}")
    native_csv = native / f"{model}_native_vs_ensemble.csv"
    if native_csv.exists():
        table = render_markdown(pd.read_csv(native_csv), "native_benchmark")
        sections.append(f"#### Server compute-infer latency (us): native TF vs converted ensembles, {model}\n\n{table}\n")
        (staging / f"{model}_native_vs_ensemble.md").write_text(sections[-1])
    return sections


def build(perf: Path, native: Path, accuracy: Path, host: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    settings = {**json.loads((perf / "settings.json").read_text()), "host": json.loads(host.read_text())}
    with atomic.replace_dir(out) as staging:
        sections = [s for model in params["models"] for s in model_sections(model, perf, native, params, settings,
                                                                            staging)]
        sections.append(accuracy_markdown(json.loads(accuracy.read_text())))
        (staging / "report.md").write_text(f"# Measured results: profile {params['profile']}\n\n"
                                           f"Host: {summary(settings['host'])}\n\n" + "\n".join(sections))
    progress("tables", f"wrote {out}/report.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--perf", "--native", "--accuracy", "--host", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("tables", lambda: build(a.perf, a.native, a.accuracy, a.host, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
