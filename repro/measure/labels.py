"""What actually ran, attached to every result row: engine, precision, device, runtime, versions.
The engine's words come from the model's family (``Family.engine_label``)."""
from __future__ import annotations

import importlib.metadata

from repro.measure.host import container_image
from repro.profiles.catalog import Profile
from repro.serving.runtime import TRITON_VERSION

DISTRIBUTIONS = (("tensorflow", "tensorflow-cpu"), ("onnxruntime", "onnxruntime"), ("tf2onnx", "tf2onnx"),
                 ("numpy", "numpy"), ("tritonclient", "tritonclient"))


def versions() -> dict[str, str]:
    found = {name: importlib.metadata.version(dist) for name, dist in DISTRIBUTIONS}
    return {**found, "triton_server": TRITON_VERSION, "perf_analyzer": TRITON_VERSION}


def runtime_label(profile: Profile) -> str:
    """``Triton 2.51.0 (local runtime)``; inside the project's container ``(container runtime: <image>)``."""
    image = container_image()
    return f"Triton {TRITON_VERSION} (container runtime: {image})" if image else f"Triton {TRITON_VERSION} ({profile.runtime} runtime)"


def row_labels(profile: Profile, engine: str, precision: str, found: dict[str, str]) -> dict[str, str]:
    return {"engine": engine, "precision": precision.upper(), "device": profile.device_label,
            "runtime": runtime_label(profile), "versions": "; ".join(f"{k} {found[k]}" for k in sorted(found))}
