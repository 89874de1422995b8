"""What actually ran, attached to every result row: engine, precision, device, runtime, versions.
The engine's words come from the model's family (``Family.engine_label``)."""
from __future__ import annotations

import importlib.metadata
import os
import platform

from repro.profiles.catalog import Profile
from repro.serving.runtime import TRITON_VERSION

DISTRIBUTIONS = (("tensorflow", "tensorflow-cpu"), ("onnxruntime", "onnxruntime"), ("tf2onnx", "tf2onnx"),
                 ("numpy", "numpy"), ("tritonclient", "tritonclient"))


def versions() -> dict[str, str]:
    found = {name: importlib.metadata.version(dist) for name, dist in DISTRIBUTIONS}
    return {**found, "triton_server": TRITON_VERSION, "perf_analyzer": TRITON_VERSION}


def device_label(profile: Profile) -> str:
    if profile.device == "cpu":
        return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    return profile.gpu


def row_labels(profile: Profile, engine: str, precision: str, found: dict[str, str]) -> dict[str, str]:
    return {"engine": engine, "precision": precision.upper(), "device": device_label(profile),
            "runtime": f"Triton {TRITON_VERSION} ({profile.runtime} runtime)",
            "versions": "; ".join(f"{k} {found[k]}" for k in sorted(found))}


def labels_for(profile: Profile, family, variants: dict[str, str], precision: str) -> dict[str, dict[str, str]]:
    """Served model name -> its row labels."""
    found = versions()
    return {name: row_labels(profile, family.engine_label(variant, profile.dense_engine, found), precision, found)
            for name, variant in variants.items()}
