"""The host fingerprint: what a measurement depends on besides the code and the params (CPU model and
instruction-set features, cores, memory, GPU and driver, the runtime's versions). The `host` stage
writes it; the measuring stages depend on it, so on another machine DVC re-measures instead of keeping
figures from elsewhere, and `make compare` calls rows from different hosts not comparable."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
from pathlib import Path

from repro.serving.runtime import TRITON_VERSION

# Instruction-set features that change which kernels oneDNN, ONNX Runtime and numpy pick.
ISA_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512_vnni", "avx512_bf16",
             "avx512_fp16", "amx_tile", "amx_bf16", "amx_int8", "asimd", "sve")


def cpuinfo(path: Path = Path("/proc/cpuinfo")) -> tuple[str, list[str]]:
    """CPU model name and its ISA features of interest (empty where /proc/cpuinfo is missing)."""
    model, flags = platform.processor() or platform.machine(), set()
    if path.exists():
        for line in path.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("model name", "Model") and value.strip():
                model = value.strip()
            elif key.strip() in ("flags", "Features"):
                flags |= set(value.split())
    return model, [f for f in ISA_FLAGS if f in flags]


def memory_gib(path: Path = Path("/proc/meminfo")) -> int | None:
    if not path.exists():
        return None
    for line in path.read_text().splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 2**20)
    return None


def gpus() -> list[dict[str, str]]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = [[c.strip() for c in line.split(",")] for line in out.stdout.splitlines() if line.strip()]
    return [{"name": r[0], "driver": r[1], "memory": r[2]} for r in rows if len(r) == 3]


def torch_version() -> str | None:
    """PyTorch (and its CUDA) where it is installed: the GPU flavours' engine."""
    try:
        import importlib.metadata
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


# Set by tools/cpu_container.py on the containers it starts; believed only inside a container.
CONTAINER_IMAGE_ENV = "REPRO_CONTAINER_IMAGE"
CONTAINER_MARKERS = (Path("/run/.containerenv"), Path("/.dockerenv"))   # podman's, docker's


def container_image(env: dict[str, str] | None = None, markers: tuple[Path, ...] = CONTAINER_MARKERS) -> str | None:
    """The image this process runs in (``<tag> (<engine> image <id>)``), or None outside a container."""
    image = (os.environ if env is None else env).get(CONTAINER_IMAGE_ENV)
    return image if image and any(m.exists() for m in markers) else None


def fingerprint() -> dict:
    model, isa = cpuinfo()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": model, "isa": isa, "cores": cores, "memory_gib": memory_gib(), "machine": platform.machine(),
            "system": platform.system(), "gpus": gpus(), "triton": TRITON_VERSION,
            "python": ".".join(platform.python_version_tuple()[:2]), "torch": torch_version(),
            **({"container": image} if (image := container_image()) else {})}


def summary(fp: dict | None) -> str:
    """One line naming the host, for reports and comparisons."""
    if not fp:
        return "unknown host (no host.json)"
    gpu = ", ".join(f"{g['name']} (driver {g['driver']})" for g in fp.get("gpus", [])) or "no GPU"
    return (f"{fp['cpu']}, {fp['cores']} cores, {fp['memory_gib']} GiB, ISA {'/'.join(fp['isa']) or 'baseline'}; "
            f"{gpu}; Triton {fp['triton']}" + (f"; in container {fp['container']}" if fp.get("container") else ""))
