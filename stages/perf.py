"""Stage `perf`: perf_analyzer measurements of every served model through the real Triton server, in
each scenario the profile asks for and the model's family publishes (offline: a batch sweep at
concurrency 1; online: a concurrency sweep at one batch size). What is served comes from the family's
flavour on this profile (repro.serving.plan.ServedGroup): one server start per group.

    python -m stages.perf --profile cpu --repos triton_repos/cpu --data artifacts/data \
        --out results/cpu/perf --summary results/cpu/perf_summary.json
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

from repro import atomic
from repro.cli import run_stage
from repro.families import family_of, families_in_use, served_models
from repro.measure import scenarios
from repro.measure.scenarios import Selection, point_name
from repro.measure.campaign import group_points, measure_group
from repro.measure.perf_analyzer import PerfSettings, measured_frame, summary_metrics
from repro.params import load_params
from repro.profiles.catalog import get_profile


def forget(staging: Path, table: str, batch: int, concurrency: int) -> None:
    """An earlier part's raw files and samples of a point about to be measured again."""
    point = point_name(table, batch, concurrency)
    for old in [*(staging / "raw" / table).glob(f"{point}.*"), staging / "samples" / f"{point}.json"]:
        old.unlink(missing_ok=True)


def earlier_rows(csv: Path, points: list[tuple[str, int, int]], wanted: Selection) -> list[dict]:
    """An earlier part's rows of a table that this run keeps: points of the sweep it does not measure."""
    if not csv.exists():
        return []
    keep = {(b, c) for t, b, c in points if t == csv.stem and not wanted(t, b, c)}
    return [r for r in pd.read_csv(csv).to_dict("records") if (int(r["batch"]), int(r["concurrency"])) in keep]


def build(profile_name: str, repos: Path, data: Path, out: Path, summary: Path, params_path: Path,
          only: list[str] | None = None, wanted: Selection = Selection()) -> None:
    """``only`` (models) and ``wanted`` (points, by table or point name): measure just these and keep the
    earlier results of the rest (a GPU host whose commands are time-limited measures a profile in parts;
    the tables stage then renders them all)."""
    params = load_params(params_path)
    profile = get_profile(params, profile_name)
    models = served_models(params, profile, only)
    partial = bool(only) or wanted.partial
    kept = json.loads((out / "settings.json").read_text()) if partial and (out / "settings.json").exists() else {}
    frames: dict[str, pd.DataFrame] = {}
    tables: dict[str, dict] = {k: v for k, v in kept.get("tables", {}).items()
                               if wanted.partial or v["model"] not in models}
    stats: dict[str, dict] = json.loads((out / "model_stats.json").read_text()) \
        if partial and (out / "model_stats.json").exists() else {}
    with atomic.replace_dir(out) as staging:
        if partial and out.exists():
            shutil.copytree(out, staging, dirs_exist_ok=True)
        for model in models:
            family = family_of(params, model)
            family_perf = profile.perf_for(family.name)
            sweep = scenarios.from_params(family_perf, family.scenarios)
            breakdown: list[dict] = []
            for group in family.perf_groups(model, repos, data, params, profile):
                points = group_points(group, sweep)
                for point in filter(lambda p: wanted(*p), points):
                    forget(staging, *point)
                rows, found = measure_group(group, staging, sweep, PerfSettings.from_params(profile.perf), wanted)
                breakdown += found
                for name, model_rows in rows.items():
                    frames[name] = measured_frame(earlier_rows(staging / f"{name}.csv", points, wanted) + model_rows)
                    atomic.write_csv(staging / f"{name}.csv", frames[name])
                    tables[name] = {"model": model, "scenario": model_rows[0]["scenario"],
                                    "sweep_note": family_perf["note"]}
                if rows:
                    stats[group.name] = group.model_stats()
            earlier = staging / f"{model}_breakdown.csv"
            if wanted.partial and earlier.exists() and earlier.stat().st_size > 1:
                breakdown = [r for r in pd.read_csv(earlier).to_dict("records")
                             if not wanted(r["ensemble"], int(r["Batch"]), 1)] + breakdown
            atomic.write_csv(earlier, pd.DataFrame(breakdown))
        presets = sorted({family.size_label(params) for family in families_in_use(params)})
        settings = {"profile": profile.name, "preset": " / ".join(p.removesuffix(" preset") for p in presets),
                    "precision": params["convert"]["precision"], **profile.perf, "tables": tables}
        (staging / "settings.json").write_text(json.dumps(settings, indent=2) + "\n")
        if any(stats.values()):
            (staging / "model_stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True) + "\n")
    metrics = summary_metrics(frames)
    if partial and summary.exists():
        metrics = {**{k: v for k, v in json.loads(summary.read_text()).items() if k in tables}, **metrics}
    atomic.write_text(summary, json.dumps(metrics, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of params.yaml 'profiles'")
    for flag in ("--repos", "--data", "--out", "--summary"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", default=None, help="comma-separated: measure only these, keep the others' results")
    parser.add_argument("--tables", default=None,
                        help="comma-separated fnmatch patterns over table or point names (table_b<batch>[_c<n>]): "
                             "measure only those points, keep the others' results")
    a = parser.parse_args(argv)
    only = a.models.split(",") if a.models else None
    return run_stage("perf", lambda: build(a.profile, a.repos, a.data, a.out, a.summary, a.params, only,
                                           Selection.parse(a.tables)))


if __name__ == "__main__":
    sys.exit(main())
