"""The published results registry: ``results/published/index.csv`` (one row per published table)
plus one CSV per table with exactly the published columns and values."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pandas as pd

from repro.published.parse import PublishedTable

INDEX_COLUMNS = ["table_id", "source", "file", "title", "line", "model", "model_size", "sparse", "dense",
                 "format", "backend", "backend_accelerator", "precision", "gpu", "scenario", "max_batch_size",
                 "instances", "cuda_graph", "units", "style", "rows"]

# What each document publishes, where its parameter tables do not say it.
DOCUMENTS: dict[str, dict[str, str]] = {
    "000": {"sparse": "Merlin HPS", "dense": "TensorRT", "units": "us"},
    "001": {"sparse": "TensorFlow SavedModel", "dense": "TensorRT", "units": "us"},
    "002": {"model": "Wide & Deep", "units": "ms"},
    "003": {"model": "ResNet50 v1.5", "units": "ms"},
    "004": {"scenario": "benchmark", "format": "TensorFlow SavedModel / TensorRT engine (with and without HPS)",
            "backend": "TensorFlow / TensorRT", "units": "us"},
}
GPU_PROFILES = {"A100": "a100", "A30": "a30", "T4": "t4", "V100": "v100", "A40": "a40"}


def gpu_profile(gpu: str) -> str:
    found = [profile for token, profile in GPU_PROFILES.items() if re.search(rf"\b{token}\b", gpu)]
    if len(found) != 1:
        raise ValueError(f"cannot map published GPU '{gpu}' to one profile of {sorted(GPU_PROFILES.values())}")
    return found[0]


def integer(text: str) -> int | str:
    return int(float(text)) if re.fullmatch(r"\d+(\.0+)?", text or "") else ""


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def index_row(table: PublishedTable) -> dict[str, object]:
    doc, meta = DOCUMENTS[table.source[:3]], table.meta
    scenario = doc.get("scenario") or table.title.split(":")[0].lower()
    row: dict[str, object] = {
        "source": table.source, "title": table.title, "line": table.line,
        "model": doc.get("model") or meta.get("Model architecture", ""),
        "model_size": meta.get("Model size", "").replace(" parameters", ""),
        "sparse": doc.get("sparse", ""), "dense": doc.get("dense", ""),
        "format": doc.get("format") or meta.get("Model format", ""),
        "backend": doc.get("backend") or meta.get("Backend", ""),
        "backend_accelerator": meta.get("Backend accelerator", ""),
        "precision": meta.get("Precision", ""), "gpu": gpu_profile(meta.get("GPU", "")), "scenario": scenario,
        "max_batch_size": integer(meta.get("Max batch size") or meta.get("Max Batch Size", "")),
        "instances": integer(meta.get("Number of model instances", "")),
        "cuda_graph": meta.get("NVIDIA TensorRT Capture CUDA Graph", ""),
        "units": doc["units"], "style": table.style, "rows": len(table.frame),
    }
    parts = [table.source[:3], scenario, slug(str(row["model"])), slug(str(row["model_size"])), row["gpu"],
             slug(str(row["precision"])) if scenario != "benchmark" else ""]
    row["table_id"] = "-".join(str(p) for p in parts if p)
    row["file"] = f"results/published/{row['table_id']}.csv"
    return row


def build_index(tables: list[PublishedTable]) -> pd.DataFrame:
    index = pd.DataFrame([index_row(t) for t in tables], columns=INDEX_COLUMNS)
    duplicated = index["table_id"][index["table_id"].duplicated()]
    if len(duplicated):
        raise ValueError(f"published tables share an id: {sorted(set(duplicated))}")
    return index


def load_index(index_csv: Path) -> pd.DataFrame:
    if not index_csv.exists():
        raise FileNotFoundError(f"{index_csv} is missing; run `make published`.")
    return pd.read_csv(index_csv, keep_default_na=False, dtype={"max_batch_size": str, "instances": str})


def load_table(root: Path, file: str) -> pd.DataFrame:
    return pd.read_csv(root / file)


def render_table(style: str, frame: pd.DataFrame) -> str:
    """A registry (or measured) table in its published markdown form."""
    from repro.report.render import STYLES, render_flat, render_markdown
    return render_flat(frame, style) if STYLES[style].flat else render_markdown(frame, style)
