"""Measured tables next to their published counterparts: same model, precision and scenario, the
same sparse flavour (TF SavedModel -> seed 001, HPS -> seed 000), size matched where the preset is
a published size; the header names the different hardware and any size difference. A ratio column
per row; measured rows with no published counterpart are listed, not hidden."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tabulate import tabulate

from repro import paths
from repro.measure.metrics import P99, THROUGHPUT, canonical
from repro.published.registry import load_index, load_table



@dataclass(frozen=True)
class Counterpart:
    table_id: str
    title: str
    gpu: str
    model_size: str
    frame: pd.DataFrame
    style: str
    precision: str = ""


def counterparts(match: dict[str, str], precision: str | None, preset: str, scenario: str = "offline") -> list[Counterpart]:
    """Published tables matching ``match`` (index columns: the source document and the model's published
    name, which its family gives) in the same scenario and precision (``None``: every precision, the
    same one first); size matched where the preset is a published size."""
    index = load_index(paths.PUBLISHED_INDEX)
    found = index[index["scenario"] == scenario]
    if precision is not None:
        found = found[found["precision"] == precision.upper()]
    for column, value in match.items():
        found = found[found[column] == value]
    if preset in set(found["model_size"]):
        found = found[found["model_size"] == preset]
    return [Counterpart(r["table_id"], r["title"], r["gpu"], r["model_size"], load_table(paths.ROOT, r["file"]),
                        r["style"], r["precision"])
            for _, r in found.iterrows()]


def side_by_side(measured: pd.DataFrame, published: pd.DataFrame, style: str) -> tuple[pd.DataFrame, list[str]]:
    """Rows matched by (batch, concurrency) with measured/published ratios; both sides read through the
    metrics table (the published one from its style's headers and unit)."""
    m = canonical(measured).set_index(["batch", "concurrency"])
    p = canonical(published, style)
    for axis in ("batch", "concurrency"):   # ResNet50's tables leave out the one they hold at 1
        if axis not in p:
            p[axis] = 1
    p = p.set_index(["batch", "concurrency"])
    common = [k for k in m.index if k in p.index]
    out = pd.DataFrame({
        "Batch": [b for b, _ in common],
        "Concurrency": [c for _, c in common],
        "measured infer/s": [m.loc[k, THROUGHPUT] for k in common],
        "published infer/s": [p.loc[k, THROUGHPUT] for k in common],
        "throughput ratio": [m.loc[k, THROUGHPUT] / p.loc[k, THROUGHPUT] for k in common],
        "measured p99 us": [m.loc[k, P99] for k in common],
        "published p99 us": [p.loc[k, P99] for k in common],
        "p99 ratio": [m.loc[k, P99] / p.loc[k, P99] for k in common]})
    return out, [f"{int(b)}" + (f" at concurrency {int(c)}" if c != 1 else "") for b, c in m.index if (b, c) not in p.index]


def render(name: str, measured: pd.DataFrame, preset: str, cp: Counterpart) -> str:
    device = measured["device"].iloc[0]
    size_note = "" if cp.model_size == preset or not cp.model_size else \
        f"; size differs: measured {preset} preset vs published {cp.model_size}"
    measured_precision = str(measured["precision"].iloc[0]).upper() if "precision" in measured else ""
    if cp.precision and measured_precision and cp.precision != measured_precision:
        size_note += f"; precision differs: measured {measured_precision} vs published {cp.precision}"
    table, missing = side_by_side(measured, cp.frame, cp.style)
    head = (f"#### {name} (measured on {device}) vs published `{cp.table_id}` on {cp.gpu.upper()}{size_note}\n\n"
            f"Published: {cp.title}\n\n")
    body = tabulate(table, headers="keys", tablefmt="pipe", showindex=False,
                    floatfmt=("g", "g", ".0f", ".0f", ".3g", ".0f", ".0f", ".3g")) if len(table) else "(no common point)"
    tail = f"\n\nMeasured points with no published counterpart: batch {', '.join(missing)}" if missing else ""
    return head + body + tail + "\n"
