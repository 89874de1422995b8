"""Upstream size-sorted table placement: sort tables by size ascending; the smallest ones whose
cumulative size stays within the memory threshold go to the GPU, the rest stay on the CPU."""
from __future__ import annotations

GIB = 1024 ** 3


def place_tables(cardinalities: list[int], dim: int, bytes_per_value: int, threshold_gb: float) -> list[str]:
    """Device per table, in feature order: "GPU" or "CPU"."""
    if threshold_gb < 0:
        raise ValueError(f"memory threshold must be >= 0 GB, got {threshold_gb} (params.yaml: convert.memory_threshold_gb)")
    sizes = [rows * dim * bytes_per_value for rows in cardinalities]
    devices, used = ["CPU"] * len(sizes), 0
    for i in sorted(range(len(sizes)), key=lambda k: (sizes[k], k)):
        if used + sizes[i] > threshold_gb * GIB:
            break
        devices[i], used = "GPU", used + sizes[i]
    return devices


def placement_report(cardinalities: list[int], dim: int, bytes_per_value: int, threshold_gb: float) -> dict:
    devices = place_tables(cardinalities, dim, bytes_per_value, threshold_gb)
    tables = [{"feature": i, "rows": rows, "bytes": rows * dim * bytes_per_value, "device": dev}
              for i, (rows, dev) in enumerate(zip(cardinalities, devices))]
    return {"memory_threshold_gb": threshold_gb, "bytes_per_value": bytes_per_value, "embedding_dim": dim,
            "gpu_bytes": sum(t["bytes"] for t in tables if t["device"] == "GPU"),
            "cpu_bytes": sum(t["bytes"] for t in tables if t["device"] == "CPU"),
            "cpu_tables": [t["feature"] for t in tables if t["device"] == "CPU"], "tables": tables}
