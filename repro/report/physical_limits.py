"""Physical-limit estimates for a served configuration: the bytes each inference must move over the
host link (inputs and output; host-resident table rows too), the bytes the embedding gather moves
in GPU memory, and the MLP FLOPs against peak. The limit is the slowest of the three assuming
perfect overlap; the achieved fraction makes the gap visible. Hardware peaks come from params.yaml
(h100.hardware), not from measurement."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.engines.onnx_engine import Engine, Graph, NumpyBackend
from repro.engines.placement import place_tables

INPUT_BYTES = 26 * 4 + 13 * 4      # INT32 categorical + FP32 numerical per sample
OUTPUT_BYTES = 4
BYTES = {"fp16": 2, "fp32": 4}


@dataclass(frozen=True)
class Hardware:
    host_link_gbps: float      # GB/s, one direction
    memory_gbps: float         # GB/s, GPU memory
    fp16_tflops: float         # dense tensor-core peak
    fp32_tflops: float         # non-tensor FP32 peak
    tf32_tflops: float         # dense TF32 tensor-core peak

    @classmethod
    def from_params(cls, hw: dict) -> "Hardware":
        return cls(float(hw["host_link_gbps"]), float(hw["memory_gbps"]), float(hw["fp16_tflops"]),
                   float(hw["fp32_tflops"]), float(hw["tf32_tflops"]))


def mlp_flops_per_sample(graph: Graph) -> float:
    """Multiply-add FLOPs of every MatMul/Linear of the dense graph, counted on a batch of one."""
    class Counting(NumpyBackend):
        flops = 0.0

        def linear(self, x, weights, relu):
            Counting.flops += 2.0 * x.shape[0] * weights[0].shape[0] * weights[0].shape[1]
            return NumpyBackend.linear(x, weights, relu)

    engine = Engine(graph, Counting())
    feeds = {"numerical_features": np.zeros((1, 13), np.float32), "lookup_vectors": np.zeros((1, 26, 128), np.float32)}
    matmuls = engine.trace_matmuls(**feeds)
    return Counting.flops + sum(2.0 * np.prod(a[:-1]) * a[-1] * b[-1] for a, b in matmuls)


def limits(cardinalities: list[int], precision: str, sparse: str, memory_threshold_gb: float, flops: float,
           hw: Hardware, fp32_matmul: str = "ieee", dim: int = 128) -> dict:
    """Seconds per inference bound by each resource, and the resulting limit (infer/s)."""
    row = dim * BYTES[precision]
    host_tables = 0
    if sparse in ("placement", "cache"):
        host_tables = place_tables(cardinalities, dim, BYTES[precision], memory_threshold_gb).count("CPU")
    host_bytes = INPUT_BYTES + OUTPUT_BYTES + (host_tables * row if sparse == "placement" else 0)
    gather_bytes = 2 * len(cardinalities) * row          # read the rows, write the lookup tensor
    peak = {"fp16": hw.fp16_tflops, "fp32": hw.tf32_tflops if fp32_matmul == "tf32" else hw.fp32_tflops}[precision]
    seconds = {"host_link": host_bytes / (hw.host_link_gbps * 1e9), "gather": gather_bytes / (hw.memory_gbps * 1e9),
               "mlp": flops / (peak * 1e12)}
    bound = max(seconds, key=seconds.get)
    return {"host_link_bytes": host_bytes, "gather_bytes": gather_bytes, "mlp_flops": flops,
            "seconds_per_inference": seconds, "bound_by": bound, "limit_infer_per_s": 1.0 / seconds[bound]}
