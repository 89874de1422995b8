"""Stage `tables`: render measured results like the published ones (heading naming what really ran,
parameter table, results table), SVG plots, and a provenance JSON per result. Rebuilds from the
files on disk; never re-measures.

    python -m stages.tables --profile cpu --perf results/cpu/perf --native results/cpu/native \
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
from repro.families import families_in_use, family_of, served_models
from repro.measure.host import summary
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.report import measured as report
from repro.report.render import render_markdown
from repro.serving.plan import describe_details

UPSTREAM = ["data", "train@{m}", "convert@{m}", "repos@{p}", "perf@{p}"]


def accuracy_markdown(accuracy: dict) -> str:
    checked = {name: r for name, r in sorted(accuracy["models"].items()) if r.get("checked", True)}
    rows = [(name, r["metric"], r["score_served"], r["score_framework"], r["abs_diff"], r["tolerance"],
             r["test_samples"], {True: "pass", False: "FAIL", None: "reported"}[r["passed"]])
            for name, r in checked.items()]
    notes = sorted({r["note"] for r in checked.values() if r.get("note")})
    unchecked = [name for name, r in sorted(accuracy["models"].items()) if not r.get("checked", True)]
    text = ("#### Accuracy: served models vs their framework\n\n" +
            tabulate(rows, headers=["Served model", "Metric", "Served", "Framework", "abs diff", "Tolerance",
                                    "Samples", "Gate"],
                     tablefmt="pipe", floatfmt=("", "", ".6f", ".6f", ".2e", "g", "", "")) + "\n")
    text += "".join(f"\n- {note}" for note in notes)
    text += "".join(f"\n- {name}: {describe_details(r['details'])}" for name, r in checked.items() if r.get("details"))
    if unchecked:
        text += f"\n- Not checked on this profile: {', '.join(unchecked)} (no trained weights served here)"
    return text + ("\n" if notes or unchecked or any(r.get("details") for r in checked.values()) else "")


def table_section(name: str, model: str, frame: pd.DataFrame, params: dict, profile, settings: dict,
                  staging: Path) -> str:
    family = family_of(params, model)
    display = family.display_names[model]
    size = str(frame["preset"].iloc[0]) + " preset" if "preset" in frame else family.size_label(params)
    text = report.measured_markdown(frame, display, size, profile.perf_for(family.name)["max_batch_size"],
                                    profile.repos["instances"], family.table_style,
                                    settings["tables"][name].get("sweep_note", ""))
    (staging / f"{name}.md").write_text(text)
    what = f"{display}, {size}, {frame['precision'].iloc[0]} on {frame['device'].iloc[0]}"
    report.plot_latency_breakdown(frame, staging / f"{name}_latency.svg", f"{name}: latency breakdown\n{what}")
    report.write_json(staging / f"{name}.provenance.json", report.provenance(
        paths.ROOT, frame, settings, [s.format(m=model, p=profile.name) for s in UPSTREAM],
        f"dvc repro tables@{profile.name}"))
    return text


def model_sections(model: str, perf: Path, native: Path, params: dict, profile, settings: dict,
                   staging: Path) -> list[str]:
    family = family_of(params, model)
    display = family.display_names[model]
    names = [name for name, t in settings["tables"].items() if t["model"] == model]
    frames = {name: pd.read_csv(perf / f"{name}.csv") for name in names}
    sections = [table_section(name, model, frame, params, profile, settings, staging) for name, frame in frames.items()]
    offline = {name: frame for name, frame in frames.items() if settings["tables"][name]["scenario"] == "offline"}
    if offline:
        first = next(iter(offline.values()))
        report.plot_throughput(offline, staging / f"{model}_throughput.svg",
                               f"{display} offline throughput (95% intervals)\n{family.size_label(params)}, "
                               f"{first['precision'].iloc[0]} on {first['device'].iloc[0]}")
    online = {name: frame for name, frame in frames.items() if settings["tables"][name]["scenario"] == "online"}
    if online:
        first = next(iter(online.values()))
        report.plot_latency_vs_concurrency(online, staging / f"{model}_online_latency.svg",
                                           f"{display} online latency (batch {int(first['batch'].iloc[0])})\n"
                                           f"{family.size_label(params)}, {first['precision'].iloc[0]} on "
                                           f"{first['device'].iloc[0]}")
    native_csv = native / f"{model}_native_vs_ensemble.csv"
    if native_csv.exists():
        table = render_markdown(pd.read_csv(native_csv), "native_benchmark")
        sections.append(f"#### Server compute-infer latency (us): native TF vs converted ensembles, {model}\n\n{table}\n")
        (staging / f"{model}_native_vs_ensemble.md").write_text(sections[-1])
    return sections


def devices_note(perf: Path, settings: dict) -> str:
    """Where a profile's tables were measured on more than one device (a time-limited host measures in parts):
    which tables each device measured. The host line above is the machine of the last run."""
    devices: dict[str, list[str]] = {}
    for table in settings.get("tables", {}):
        csv = perf / f"{table}.csv"
        if csv.exists():
            frame = pd.read_csv(csv, usecols=lambda c: c == "device")
            for device in sorted(set(frame["device"])) if "device" in frame else []:
                devices.setdefault(str(device), []).append(table)
    if len(devices) < 2:
        return ""
    return ("Measured on more than one device (each table's Device row says which): "
            + "; ".join(f"{device}: {', '.join(sorted(tables))}" for device, tables in sorted(devices.items()))
            + ". The host line is the machine of the last run.\n\n")


def build(profile_name: str, perf: Path, native: Path, accuracy: Path, host: Path, out: Path,
          params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params, profile_name)
    settings = {**json.loads((perf / "settings.json").read_text()), "host": json.loads(host.read_text())}
    with atomic.replace_dir(out) as staging:
        sections = [s for model in served_models(params, profile)
                    for s in model_sections(model, perf, native, params, profile, settings, staging)]
        sections.append(accuracy_markdown(json.loads(accuracy.read_text())))
        for family in families_in_use(params):
            sections += family.report_sections(profile, perf, params, staging)
        (staging / "report.md").write_text(f"# Measured results: profile {profile.label_in(settings['host'].get('container'))}\n\n"
                                           f"Host: {summary(settings['host'])}\n\n" + devices_note(perf, settings)
                                           + "\n".join(sections))
    progress("tables", f"wrote {out}/report.md")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of params.yaml 'profiles'")
    for flag in ("--perf", "--native", "--accuracy", "--host", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("tables", lambda: build(a.profile, a.perf, a.native, a.accuracy, a.host, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
