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


def counterparts(display: str, source: str, precision: str, preset: str) -> list[Counterpart]:
    """Published tables of the model (its published name) in one source document (its family says
    which document publishes a variant)."""
    index = load_index(paths.PUBLISHED_INDEX)
    match = index[(index["source"] == source) & (index["model"] == display)
                  & (index["precision"] == precision.upper()) & (index["scenario"] == "offline")]
    if preset in set(match["model_size"]):
        match = match[match["model_size"] == preset]
    return [Counterpart(r["table_id"], r["title"], r["gpu"], r["model_size"], load_table(paths.ROOT, r["file"]),
                        r["style"])
            for _, r in match.iterrows()]


def side_by_side(measured: pd.DataFrame, published: pd.DataFrame, style: str) -> tuple[pd.DataFrame, list[int]]:
    """Rows matched by batch (concurrency 1 both sides) with measured/published ratios; both sides read
    through the metrics table (the published one from its style's headers and unit)."""
    m = canonical(measured).set_index("batch")
    p = canonical(published, style).set_index("batch")
    common = [b for b in m.index if b in p.index]
    out = pd.DataFrame({
        "Batch": common,
        "measured infer/s": [m.loc[b, THROUGHPUT] for b in common],
        "published infer/s": [p.loc[b, THROUGHPUT] for b in common],
        "throughput ratio": [m.loc[b, THROUGHPUT] / p.loc[b, THROUGHPUT] for b in common],
        "measured p99 us": [m.loc[b, P99] for b in common],
        "published p99 us": [p.loc[b, P99] for b in common],
        "p99 ratio": [m.loc[b, P99] / p.loc[b, P99] for b in common]})
    return out, [int(b) for b in m.index if b not in p.index]


def render(name: str, measured: pd.DataFrame, preset: str, cp: Counterpart) -> str:
    device = measured["device"].iloc[0]
    size_note = "" if cp.model_size == preset else f"; size differs: measured {preset} preset vs published {cp.model_size}"
    table, missing = side_by_side(measured, cp.frame, cp.style)
    head = (f"#### {name} (measured on {device}) vs published `{cp.table_id}` on {cp.gpu.upper()}{size_note}\n\n"
            f"Published: {cp.title}\n\n")
    body = tabulate(table, headers="keys", tablefmt="pipe", showindex=False,
                    floatfmt=("g", ".0f", ".0f", ".3g", ".0f", ".0f", ".3g")) if len(table) else "(no common batch size)"
    tail = f"\n\nMeasured batch sizes with no published counterpart: {', '.join(map(str, missing))}" if missing else ""
    return head + body + tail + "\n"
