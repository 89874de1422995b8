"""GPU profiles: each chooses the runtime and the formats; the stages stay the same."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Profile:
    name: str
    runtime: str            # "local": Triton from wheels (.runtime/); "container": pinned NGC containers
    device: str             # "cpu" or "gpu"
    gpu: str                # what the published tables call the hardware ("" for cpu)
    dense_engine: str       # what runs the dense submodel in the runnable local flavour
    instance_kind: str      # Triton instance_group kind for the local flavour

    @property
    def label(self) -> str:
        return f"{self.name} ({self.device.upper()}{', ' + self.gpu if self.gpu else ''}; {self.runtime} runtime)"


PROFILES: dict[str, Profile] = {
    "cpu": Profile("cpu", "local", "cpu", "", "onnxruntime-cpu", "KIND_CPU"),
    "h100": Profile("h100", "local", "gpu", "NVIDIA H100 80GB", "pytorch-cuda", "KIND_GPU"),
    "a100": Profile("a100", "container", "gpu", "NVIDIA DGX A100 (1x A100 80GB)", "tensorrt", "KIND_GPU"),
    "a30": Profile("a30", "container", "gpu", "NVIDIA A30", "tensorrt", "KIND_GPU"),
    "t4": Profile("t4", "container", "gpu", "NVIDIA T4", "tensorrt", "KIND_GPU"),
    "v100": Profile("v100", "container", "gpu", "NVIDIA DGX-1 (1x V100 32GB)", "tensorrt", "KIND_GPU"),
    "a40": Profile("a40", "container", "gpu", "NVIDIA A40", "tensorrt", "KIND_GPU"),
}


def get_profile(name: str) -> Profile:
    if name not in PROFILES:
        raise ValueError(f"unknown profile '{name}' (params.yaml: profile); choose one of {sorted(PROFILES)}")
    return PROFILES[name]
