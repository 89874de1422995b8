"""What actually ran, attached to every result row: engines, precision, device, runtime, versions."""
from __future__ import annotations

import importlib.metadata
import os
import platform

from repro.profiles.catalog import Profile
from repro.serving.runtime import TRITON_VERSION

SPARSE_ENGINES = {
    "tf": "TF SavedModel sparse (TensorFlow {tensorflow}, python backend)",
    "hps": "HPS-file sparse lookup (numpy, python backend; not the HPS backend)",
    "native_tf": "whole model in TensorFlow {tensorflow} (python backend, no ensemble)",
}
DENSE_ENGINES = {"onnxruntime-cpu": "ONNX Runtime {onnxruntime} CPU dense (python backend)"}


def versions() -> dict[str, str]:
    found = {name: importlib.metadata.version(dist) for name, dist in
             (("tensorflow", "tensorflow-cpu"), ("onnxruntime", "onnxruntime"), ("tf2onnx", "tf2onnx"),
              ("numpy", "numpy"), ("tritonclient", "tritonclient"))}
    return {**found, "triton_server": TRITON_VERSION, "perf_analyzer": TRITON_VERSION}


def device_label(profile: Profile) -> str:
    if profile.device == "cpu":
        return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
    return profile.gpu


def engine_label(profile: Profile, variant: str, v: dict[str, str]) -> str:
    sparse = SPARSE_ENGINES[variant].format(**v)
    if variant == "native_tf":
        return sparse
    return f"{sparse} + {DENSE_ENGINES[profile.dense_engine].format(**v)}"


def row_labels(profile: Profile, variant: str, precision: str) -> dict[str, str]:
    v = versions()
    return {"engine": engine_label(profile, variant, v), "precision": precision.upper(),
            "device": device_label(profile), "runtime": f"Triton {TRITON_VERSION} ({profile.runtime} runtime)",
            "versions": "; ".join(f"{k} {v[k]}" for k in sorted(v))}
