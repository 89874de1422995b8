"""What the h100 profile's python-backend models share (repro/triton_models/*_torch.py): the model
spec they are written with, the sparse and dense engines it describes, one CUDA graph per batch
size over static buffers, pinned staging for the host inputs, and the statistics file.

Engine: PyTorch on the GPU, never TensorRT; every result row says so. Runs on CPU tensors too
(``device="cpu"``: no graphs, no pinning), which is how the tests cover it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from repro.gpu_tables import RowSource, build_sparse
from repro.onnx_engine import Engine, TorchBackend, fuse_linear, load_graph

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
NUM_NUMERICAL = 13


@dataclass(frozen=True)
class ModelSpec:
    """What a model directory's spec.json says (written by repro.h100_repository)."""
    model: str                      # dlrm | dcnv2
    precision: str                  # fp16 | fp32
    sparse: str                     # fused | placement | cache
    cardinalities: tuple[int, ...]
    embedding_dim: int
    seed: int
    memory_threshold_gb: float
    gpucacheper: float
    batch_sizes: tuple[int, ...]    # CUDA graphs captured at load time
    dense_seed: int | None          # weights generated from it when the ONNX file ships without them
    tables: str | None = None       # .npz of trained tables (the accuracy gate) instead of seeded rows
    fp32_matmul: str = "ieee"       # ieee | tf32 (TensorRT's default for FP32 engines)

    @classmethod
    def read(cls, path: Path) -> "ModelSpec":
        raw = json.loads(path.read_text())
        raw["cardinalities"], raw["batch_sizes"] = tuple(raw["cardinalities"]), tuple(raw["batch_sizes"])
        return cls(**raw)


def row_source(spec: ModelSpec, root: Path) -> RowSource:
    arrays = None
    if spec.tables:
        with np.load(root / spec.tables) as npz:
            arrays = tuple(npz[f"table_{i}"] for i in range(len(spec.cardinalities)))
    return RowSource(spec.cardinalities, spec.embedding_dim, spec.seed, arrays)


def sparse_engine(spec: ModelSpec, root: Path, device: torch.device):
    return build_sparse(spec.sparse, row_source(spec, root), DTYPES[spec.precision], device,
                        spec.memory_threshold_gb, spec.gpucacheper)


def dense_engine(spec: ModelSpec, root: Path, device: torch.device) -> Engine:
    torch.backends.cuda.matmul.allow_tf32 = spec.fp32_matmul == "tf32"
    graph = fuse_linear(load_graph(root / "dense.onnx", seed=spec.dense_seed))
    return Engine(graph, TorchBackend({"fp16": "float16", "fp32": "float32"}[spec.precision], device=str(device)))


def dense_forward(engine: Engine, numerical: torch.Tensor, lookups: torch.Tensor) -> torch.Tensor:
    dtype = DTYPES["fp16"] if engine.backend.dtype == torch.float16 else DTYPES["fp32"]
    return engine(numerical_features=numerical.to(dtype), lookup_vectors=lookups.to(dtype))[0].float()


class Slot:
    """Static buffers of one batch size: pinned host staging, device inputs/outputs, the graph."""

    def __init__(self, batch: int, inputs: dict[str, tuple[tuple[int, ...], torch.dtype]], device: torch.device):
        pin = device.type == "cuda"
        self.batch = batch
        self.host = {k: torch.empty(batch, *shape, dtype=dt, pin_memory=pin) for k, (shape, dt) in inputs.items()}
        self.dev = {k: torch.zeros(batch, *shape, dtype=dt, device=device) for k, (shape, dt) in inputs.items()}
        self.graph, self.out, self.out_host = None, None, None


class GraphedStep:
    """``fn(**device inputs) -> device output``, replayed from one CUDA graph per batch size (on
    CUDA, when ``graphed``); inputs arrive as host tensors and travel through pinned staging."""

    def __init__(self, fn, inputs: dict[str, tuple[tuple[int, ...], torch.dtype]], device: torch.device,
                 graphed: bool = True):
        self.fn, self.inputs, self.device = fn, inputs, device
        self.graphed = graphed and device.type == "cuda"
        self.slots: dict[int, Slot] = {}

    def slot(self, batch: int) -> Slot:
        if batch not in self.slots:
            s = Slot(batch, self.inputs, self.device)
            if self.graphed:
                stream = torch.cuda.Stream()
                stream.wait_stream(torch.cuda.current_stream())
                with torch.cuda.stream(stream):
                    for _ in range(2):
                        self.fn(**s.dev)
                torch.cuda.current_stream().wait_stream(stream)
                s.graph = torch.cuda.CUDAGraph()
                with torch.cuda.graph(s.graph):
                    s.out = self.fn(**s.dev)
                s.out_host = torch.empty(s.out.shape, dtype=s.out.dtype, pin_memory=True)
            self.slots[batch] = s
        return self.slots[batch]

    def stage(self, batch: int, **host_inputs: torch.Tensor) -> Slot:
        """Copy host inputs into the slot's device buffers (through pinned memory on CUDA)."""
        s = self.slot(batch)
        for name, value in host_inputs.items():
            if value.device.type == "cpu" and self.device.type == "cuda":
                s.host[name].copy_(value)
                s.dev[name].copy_(s.host[name], non_blocking=True)
            else:
                s.dev[name].copy_(value)
        return s

    def run(self, slot: Slot, to_host: bool = True) -> torch.Tensor:
        if slot.graph is None:
            out = self.fn(**slot.dev)
            return out.cpu() if to_host else out
        slot.graph.replay()
        if not to_host:
            return slot.out
        slot.out_host.copy_(slot.out, non_blocking=True)
        torch.cuda.current_stream().synchronize()
        return slot.out_host

    def __call__(self, **host_inputs: torch.Tensor) -> torch.Tensor:
        batch = next(iter(host_inputs.values())).shape[0]
        return self.run(self.stage(batch, **host_inputs))


def write_stats(path: Path | None, stats: dict) -> None:
    if path is not None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=2, default=float) + "\n")
        tmp.replace(path)
