"""What the h100 profile's python-backend models share (repro/triton_models/*_torch.py): the model
spec they are written with, the sparse and dense engines it describes, one CUDA graph per batch
size over static buffers, pinned staging for the host inputs, and the statistics file.

Engine: PyTorch on the GPU, never TensorRT; every result row says so. Runs on CPU tensors too
(``device="cpu"``: no graphs, no pinning), which is how the tests cover it.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from repro.engines.gpu_tables import RowSource, build_sparse
from repro.engines.onnx_engine import Engine, TorchBackend, load_graph, optimize

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}
NUM_NUMERICAL = 13


@dataclass(frozen=True)
class ModelSpec:
    """What a model directory's spec.json says (written by repro.families.criteo.gpu_repository)."""
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
    dense: str = "dense.onnx"       # the dense graph, relative to the version directory
    fp32_matmul: str = "ieee"       # ieee | tf32 (TensorRT's default for FP32 engines)
    chunk_rows: int = 0             # host batches above it run in chunks, copy overlapping compute (0: off)
    device: str = "cuda"            # cuda | cpu (the tests serve the same engines on the CPU)
    native_engine: str = "torchscript"   # the native backend's: torchscript | kernels | aoti (repro/engines/scripted.py)

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
    graph = optimize(load_graph(root / spec.dense, seed=spec.dense_seed))
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
        self.staged = None          # CUDA event: the host buffers have been read by the device copy


class GraphedStep:
    """``fn(**device inputs) -> device output``, replayed from one CUDA graph per batch size (on
    CUDA, when ``graphed``); inputs arrive as host tensors and travel through pinned staging.

    With ``chunk_rows``, a host batch that is a multiple of it (and larger) runs as chunks through
    two alternating chunk-size slots: the host copy of one chunk overlaps the device work of the
    one before. Same arithmetic per sample; one output."""

    def __init__(self, fn, inputs: dict[str, tuple[tuple[int, ...], torch.dtype]], device: torch.device,
                 graphed: bool = True, chunk_rows: int = 0):
        self.fn, self.inputs, self.device = fn, inputs, device
        self.graphed = graphed and device.type == "cuda"
        self.chunk_rows = chunk_rows
        self.slots: dict[int, Slot] = {}
        self.twin: Slot | None = None
        self.out_host: dict[int, torch.Tensor] = {}

    def _capture(self, batch: int) -> Slot:
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
        return s

    def slot(self, batch: int) -> Slot:
        if batch not in self.slots:
            self.slots[batch] = self._capture(batch)
        return self.slots[batch]

    def prepare(self, batch: int) -> None:
        """Capture what ``batch`` will replay (at model load, not on the first request)."""
        if self.chunked(batch):
            self.slot(self.chunk_rows)
            self.twin = self.twin or self._capture(self.chunk_rows)
        else:
            self.slot(batch)

    def chunked(self, batch: int) -> bool:
        return bool(self.chunk_rows) and batch > self.chunk_rows and batch % self.chunk_rows == 0

    def stage(self, batch: int, **host_inputs: torch.Tensor) -> Slot:
        """Copy host inputs into the slot's device buffers (through pinned memory on CUDA)."""
        s = self.slot(batch)
        self._stage_into(s, host_inputs)
        return s

    def _stage_into(self, s: Slot, inputs: dict[str, torch.Tensor]) -> None:
        for name, value in inputs.items():
            if value.device.type == "cpu" and self.device.type == "cuda":
                s.host[name].copy_(value)
                s.dev[name].copy_(s.host[name], non_blocking=True)
            else:
                s.dev[name].copy_(value)

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

    def run_chunked(self, batch: int, host_inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        """Chunk i+1's host copy runs while the device works on chunk i (eager on CPU, for tests)."""
        self.prepare(batch)
        pair, rows = (self.slots[self.chunk_rows], self.twin), self.chunk_rows
        if not self.graphed:
            outs = []
            for start in range(0, batch, rows):
                self._stage_into(pair[0], {k: v[start:start + rows] for k, v in host_inputs.items()})
                outs.append(self.fn(**pair[0].dev))
            return torch.cat(outs)
        if batch not in self.out_host:
            first = pair[0].out
            self.out_host[batch] = torch.empty(batch, *first.shape[1:], dtype=first.dtype, pin_memory=True)
        out, stream = self.out_host[batch], torch.cuda.current_stream()
        for i, start in enumerate(range(0, batch, rows)):
            s = pair[i % 2]
            if s.staged is not None:
                s.staged.synchronize()        # the device has read this slot's previous chunk
            self._stage_into(s, {k: v[start:start + rows] for k, v in host_inputs.items()})
            s.staged = torch.cuda.Event()
            s.staged.record(stream)
            s.graph.replay()
            out[start:start + rows].copy_(s.out, non_blocking=True)
        stream.synchronize()
        return out

    def __call__(self, **host_inputs: torch.Tensor) -> torch.Tensor:
        batch = next(iter(host_inputs.values())).shape[0]
        on_host = all(v.device.type == "cpu" for v in host_inputs.values())
        if on_host and self.chunked(batch):
            return self.run_chunked(batch, host_inputs)
        return self.run(self.stage(batch, **host_inputs))


class PhaseTimes:
    """Host-side time of each phase of ``execute`` per batch size, as means in microseconds: the
    model's own latency breakdown, beside perf_analyzer's server-side one."""

    def __init__(self):
        self.totals: dict[int, dict[str, float]] = {}
        self.counts: dict[int, int] = {}
        self.batch, self.last = 0, 0.0

    def start(self, batch: int, since: float | None = None) -> None:
        """A request of ``batch`` began (at ``since``, a ``time.perf_counter()`` value, or now)."""
        self.batch, self.last = batch, time.perf_counter() if since is None else since
        self.counts[batch] = self.counts.get(batch, 0) + 1

    def mark(self, phase: str) -> None:
        now = time.perf_counter()
        self.add(phase, (now - self.last) * 1e6)
        self.last = now

    def add(self, phase: str, us: float) -> None:
        """A phase timed elsewhere (a GPU interval between CUDA events) for the current request."""
        phases = self.totals.setdefault(self.batch, {})
        phases[phase] = phases.get(phase, 0.0) + us

    def summary(self) -> dict:
        return {str(b): {"requests": self.counts[b], **{k: round(v / self.counts[b], 1) for k, v in phases.items()}}
                for b, phases in sorted(self.totals.items())}


def write_stats(path: Path | None, stats: dict) -> None:
    if path is not None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stats, indent=2, default=float) + "\n")
        tmp.replace(path)
