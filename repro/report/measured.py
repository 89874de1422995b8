"""Measured results in the published look: heading + parameter table + results table (the
registry's renderer), SVG plots, and provenance. Reads files written by the measuring stages;
never measures."""
from __future__ import annotations

import json
import platform
import subprocess
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import yaml  # noqa: E402
from tabulate import tabulate  # noqa: E402

from repro.measure.metrics import BY_NAME, COMPONENTS, P50, P99, THROUGHPUT, canonical, published  # noqa: E402
from repro.report.render import render_markdown, style_for  # noqa: E402

plt.rcParams.update({"svg.hashsalt": "repro", "svg.fonttype": "none"})


def heading(display: str, labels: dict, size: str, scenario: str = "offline") -> str:
    return f"#### {scenario.capitalize()}: {display} on {labels['device']}, {labels['engine']} with {labels['precision']}, {size}"


# What Triton serves, by the rows' `serving` label (the GPU flavour's); rows without it are the
# cpu flavour's measured variants, which are ensembles.
MODEL_FORMATS = {"fused": "one python-backend model (sparse and dense inside it)",
                 "whole": "one python-backend model (the whole model), dynamic batching",
                 "ensemble": "Triton ensemble (python-backend sparse step + python-backend dense step)",
                 "transport": "one python-backend model that returns zeros (no model work)"}
ENSEMBLE = "Triton ensemble (python-backend sparse + python-backend dense)"
NATIVE_FORMATS = {"fused": "one native C++ backend model (repro_torch: sparse and dense inside it)",
                  "whole": "one native C++ backend model (repro_torch: the whole model), dynamic batching",
                  "transport": "one native C++ backend model that returns zeros (repro_transport: no model work)"}


def model_format(labels: dict) -> str:
    """What Triton serves, by the rows' ``serving`` and ``backend`` labels."""
    formats = NATIVE_FORMATS if str(labels.get("backend")) == "cpp" else MODEL_FORMATS
    return formats.get(str(labels.get("serving")), ENSEMBLE)


def label_of(frame: pd.DataFrame, column: str):
    """A label every row shares, or, where a table was measured in parts on different hosts or code, each value
    with the points it labels (``NVIDIA H100 80GB HBM3 (batch 1, 2); NVIDIA H200 (batch 128)``)."""
    values = frame[column]
    if values.nunique(dropna=False) <= 1:
        return values.iloc[0]
    online = "scenario" in frame and str(frame["scenario"].iloc[0]) == "online"
    axis, name = ("concurrency", "concurrency") if online else ("batch", "batch")
    parts = [f"{value} ({name} {', '.join(str(int(v)) for v in frame.loc[values == value, axis])})"
             for value in dict.fromkeys(values)]
    return "; ".join(parts)


def parameter_table(labels: dict, display: str, size: str, max_batch: int, instances: int) -> str:
    rows = [("Device", labels["device"]), ("Model architecture", display), ("Model size", size),
            ("Engine", labels["engine"]), ("Precision", labels["precision"]), ("Runtime", labels["runtime"]),
            ("Model format", model_format(labels)),
            ("Max batch size", max_batch), ("Number of model instances", instances), ("Versions", labels["versions"])]
    if pd.notna(labels.get("inputs", float("nan"))):
        rows.insert(6, ("Client inputs", labels["inputs"]))
    return tabulate(rows, headers=["Parameter Name", "Parameter Value"], tablefmt="pipe")


def measured_markdown(frame: pd.DataFrame, display: str, size: str, max_batch: int, instances: int,
                      style: str, sweep_note: str = "") -> str:
    """Heading, parameter table and the results in the family's published style (columns, unit)."""
    frame = canonical(frame)
    labels = {c: label_of(frame, c) for c in ("engine", "precision", "device", "runtime", "versions", "serving", "inputs", "backend")
              if c in frame}
    unstable = frame.loc[~frame["stable"].astype(bool), "batch"].tolist()
    note = (f"\n\nNot stable (perf_analyzer never reached its criterion, or the windows' coefficient of variation "
            f"exceeds perf.max_cv): batch {', '.join(map(str, unstable))}." if unstable else "")
    scenario = str(frame["scenario"].iloc[0]) if "scenario" in frame else "offline"
    style = style_for(style, scenario)
    note += evidence_markdown(frame)
    sweep = f"Sweep {sweep_note}.\n\n" if sweep_note else ""
    return (f"{heading(display, labels, size, scenario)}\n\n{sweep}{parameter_table(labels, display, size, max_batch, instances)}\n\n"
            f"{render_markdown(published(frame, style), style)}{note}\n")


EVIDENCE = ["windows", "requests", "throughput_cv", "throughput_ci_low", "throughput_ci_high",
            "latency_p99_ci_low_us", "latency_p99_ci_high_us"]


def evidence_markdown(frame: pd.DataFrame) -> str:
    """What each row rests on: windows and requests, the windows' spread, 95% intervals (bootstrap)."""
    if not set(EVIDENCE) <= set(frame.columns):
        return ""
    span = lambda lo, hi: "n/a" if pd.isna(lo) else f"{lo:,.0f} – {hi:,.0f}"  # noqa: E731
    rows = [(int(r["batch"]), int(r["concurrency"]), int(r["windows"]), int(r["requests"]),
             "n/a" if pd.isna(r["throughput_cv"]) else f"{r['throughput_cv']:.1%}",
             span(r["throughput_ci_low"], r["throughput_ci_high"]),
             span(r["latency_p99_ci_low_us"], r["latency_p99_ci_high_us"]), "yes" if r["stable"] else "NO")
            for _, r in frame.iterrows()]
    return ("\n\nEvidence per row (95% percentile-bootstrap intervals; a p99 interval needs 100 requests):\n\n"
            + tabulate(rows, headers=["Batch", "Concurrency", "Windows", "Requests", "Window CV",
                                      "Throughput 95% CI (infer/s)", "p99 95% CI (us)", "Stable"],
                       tablefmt="pipe", disable_numparse=True))


def batch_axis(ax, batches: list[int]) -> None:
    """Log-scale batch axis labelled with the measured batch sizes only (no crowded minor labels)."""
    ax.set_xscale("log")
    ticks = sorted(set(int(b) for b in batches))
    ax.set_xticks(ticks, [str(b) for b in ticks])
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())


def save_svg(fig, path: Path) -> None:
    fig.savefig(path, format="svg", metadata={"Date": None, "Creator": None}, bbox_inches="tight")
    plt.close(fig)


def plot_throughput(frames: dict[str, pd.DataFrame], path: Path, title: str) -> None:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    frames = {name: canonical(frame) for name, frame in frames.items()}
    for name, frame in frames.items():
        if {"throughput_ci_low", "throughput_ci_high"} <= set(frame.columns):   # 95% intervals of the windows
            low = (frame[THROUGHPUT] - frame["throughput_ci_low"]).clip(lower=0).fillna(0)
            high = (frame["throughput_ci_high"] - frame[THROUGHPUT]).clip(lower=0).fillna(0)
            ax.errorbar(frame["batch"], frame[THROUGHPUT], yerr=[low, high], marker="o", capsize=3, label=name)
        else:
            ax.plot(frame["batch"], frame[THROUGHPUT], marker="o", label=name)
    batch_axis(ax, [b for frame in frames.values() for b in frame["batch"]])
    ax.set(xlabel="batch size", ylabel="inferences / second", title=title)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_svg(fig, path)


def plot_latency_vs_concurrency(frames: dict[str, pd.DataFrame], path: Path, title: str) -> None:
    """The online tables: p50 and p99 latency against concurrency (p99's 95% interval where measured)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, frame in frames.items():
        frame = canonical(frame)
        ax.plot(frame["concurrency"], frame[P50] / 1000, marker="o", label=f"{name} p50")
        if {"latency_p99_ci_low_us", "latency_p99_ci_high_us"} <= set(frame.columns):
            low = (frame[P99] - frame["latency_p99_ci_low_us"]).clip(lower=0).fillna(0) / 1000
            high = (frame["latency_p99_ci_high_us"] - frame[P99]).clip(lower=0).fillna(0) / 1000
            ax.errorbar(frame["concurrency"], frame[P99] / 1000, yerr=[low, high], marker="s", capsize=3,
                        label=f"{name} p99")
        else:
            ax.plot(frame["concurrency"], frame[P99] / 1000, marker="s", label=f"{name} p99")
    ax.set(xlabel="concurrent client requests", ylabel="latency (ms)", title=title)
    ax.set_ylim(bottom=0)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_svg(fig, path)


def plot_latency_breakdown(frame: pd.DataFrame, path: Path, title: str) -> None:
    """Stacked server/client phases per point (batch; concurrency for the online tables) with p99 marked;
    a log axis where the points span decades."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    frame = canonical(frame)
    online = "scenario" in frame and str(frame["scenario"].iloc[0]) == "online"
    axis = "concurrency" if online else "batch"
    labels, bottom = [str(b) for b in frame[axis]], pd.Series(0.0, index=frame.index)
    for name in COMPONENTS:
        ax.bar(labels, frame[name], bottom=bottom, label=BY_NAME[name].column)
        bottom = bottom + frame[name]
    ax.plot(labels, frame[P99], "k_", markersize=14, label="p99 latency")
    if frame[P99].max() > 10 * max(frame[P99].min(), 1e-9):
        ax.set_yscale("log")
    ax.set(xlabel="concurrent client requests" if online else "batch size", ylabel="latency (us)", title=title)
    ax.legend(fontsize=6)
    save_svg(fig, path)


def git_commit(root: Path) -> dict:
    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else ""
    return {"commit": git("rev-parse", "HEAD") or "uncommitted", "dirty": bool(git("status", "--porcelain"))}


def lock_hashes(lock: Path, stages: list[str]) -> dict:
    """The dvc.lock entries (deps/outs md5) of the stages a result came from."""
    if not lock.exists():
        return {}
    data = yaml.safe_load(lock.read_text()).get("stages", {})
    return {name: {kind: {e["path"]: e.get("md5") for e in data[name].get(kind, [])} for kind in ("deps", "outs")}
            for name in stages if name in data}


def provenance(root: Path, frame: pd.DataFrame, settings: dict, stages: list[str], command: str) -> dict:
    first = frame.iloc[0]
    return {**git_commit(root), "host": {"machine": platform.machine(), "system": platform.system(),
                                          "processor": platform.processor()},
            "device": first["device"], "engine": first["engine"], "precision": first["precision"],
            "runtime": first["runtime"], "versions": first["versions"], "measurement": settings,
            "dvc_lock": lock_hashes(root / "dvc.lock", stages), "command": command}


def write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")
