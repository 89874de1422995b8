"""The h100 profile's DLRM/DCNv2 engine as one TorchScript module, for the native C++ backend
(repro/native, backend ``repro_torch``): the same engine code as the python-backend flavour
(repro.engines.torch_serving), written to a file that libtorch runs with no Python in the request path.

- Sparse: the fused table (all tables in one device tensor, per-table row offsets), filled at load by
  the module's ``prepare()`` with the same TorchScript function the python flavour fills it with
  (``gpu_tables.fill_seeded``), or holding the trained rows of the accuracy gate.
- Dense: the converted ONNX graph on the torch backend (``torch_serving.dense_engine``), traced.
  Triton-language kernels are invisible to the tracer, so the traced dense part runs their plain
  PyTorch references (``gpu_kernels.use_kernels``); the python flavour runs the kernels.

``write_module`` checks the traced module against the eager engine at batch sizes other than the one
it was traced with, and refuses to write a module that disagrees.
"""
from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from repro.engines import torch_serving as ts
from repro.engines.gpu_kernels import gather_rows_reference
from repro.engines.gpu_tables import CHUNK_ROWS, RowSource, build_sparse, fill_seeded, offsets_of

TRACE_BATCH = 7                 # traced with one batch size, checked at others
CHECK_BATCHES = (1, 13, 64)
CHECK_ROWS = 4096               # rows per seeded table in the check


class _Dense(torch.nn.Module):
    def __init__(self, engine):
        super().__init__()
        self.engine = engine

    def forward(self, numerical: torch.Tensor, lookups: torch.Tensor) -> torch.Tensor:
        return ts.dense_forward(self.engine, numerical, lookups)


class FusedEngine(torch.nn.Module):
    """categorical [B, T] int32, numerical [B, 13] float32 -> [B, 1] float32."""

    def __init__(self, dense: torch.jit.ScriptModule, cardinalities: list[int], dim: int, seed: int,
                 table: torch.Tensor, seeded: bool, device: torch.device):
        super().__init__()
        self.dense = dense
        self.cardinalities, self.dim, self.seed, self.seeded = list(cardinalities), dim, seed, seeded
        self.chunk_rows = CHUNK_ROWS
        self.register_buffer("table", table)
        self.register_buffer("offsets", torch.tensor(offsets_of(cardinalities), dtype=torch.int32, device=device))

    @torch.jit.export
    def prepare(self) -> None:
        """The seeded rows, generated at load (never stored in the file). Drawn on the CPU: TorchScript cannot
        make a CUDA generator (libtorch 2.11: "Unsupported device for at::make_generator_for_device"), so the
        values differ from the python flavour's CUDA draw; same function, seed and distribution."""
        if not self.seeded:
            return
        table = torch.empty(sum(self.cardinalities), self.dim, dtype=self.table.dtype, device=self.offsets.device)
        start = 0
        for t, rows in enumerate(self.cardinalities):
            fill_seeded(table[start:start + rows], self.seed, t, self.chunk_rows, torch.device("cpu"))
            start += rows
        self.table = table

    def forward(self, categorical: torch.Tensor, numerical: torch.Tensor) -> torch.Tensor:
        lookups = self.table.index_select(0, (categorical + self.offsets).reshape(-1))
        return self.dense(numerical, lookups.view(categorical.shape[0], categorical.shape[1], self.dim))


def example_inputs(cardinalities: list[int], batch: int, device: torch.device, seed: int = 0):
    gen = torch.Generator().manual_seed(seed + batch)
    ids = torch.stack([torch.randint(0, c, (batch,), generator=gen) for c in cardinalities], dim=1)
    numerical = torch.rand(batch, ts.NUM_NUMERICAL, generator=gen)
    return ids.to(torch.int32).to(device), numerical.to(device)


def build_module(spec: ts.ModelSpec, root: Path, device: torch.device) -> torch.jit.ScriptModule:
    """The scripted engine of a python-flavour model version (``root``: its spec.json's directory)."""
    if spec.sparse != "fused":
        raise ValueError(f"the native backend serves the fused sparse engine only, not '{spec.sparse}' "
                         "(params.yaml: profiles.<profile>.serving.criteo.configs[].backends)")
    dense_engine = ts.dense_engine(spec, root, device)
    dtype = ts.DTYPES[spec.precision]
    cards = list(spec.cardinalities)
    ids, numerical = example_inputs(cards, TRACE_BATCH, device)
    lookups = gather_rows_reference(torch.zeros(sum(cards), spec.embedding_dim, dtype=dtype, device=device), ids,
                                    torch.tensor(offsets_of(cards), dtype=torch.int32, device=device))
    with torch.no_grad(), warnings.catch_warnings():
        # The graph's shape tests are on feature widths, fixed per model; check_module tests other batch sizes.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        dense = torch.jit.trace(_Dense(dense_engine), (numerical, lookups), check_trace=False)
    if spec.tables:
        table = torch.from_numpy(np.ascontiguousarray(np.concatenate(ts.row_source(spec, root).arrays))).to(dtype)
        table = table.to(device)
    else:
        table = torch.empty(0, spec.embedding_dim, dtype=dtype, device=device)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript is what libtorch runs without Python
        return torch.jit.script(FusedEngine(dense, cards, spec.embedding_dim, spec.seed, table, not spec.tables, device))


def eager_forward(spec: ts.ModelSpec, root: Path, device: torch.device, table: torch.Tensor):
    """The python flavour's forward, uncaptured, over the module's rows (``table``): the sparse engine, then the
    dense engine (what the module must match)."""
    cards = list(spec.cardinalities)
    rows = table.float().cpu().numpy()
    arrays = tuple(rows[start:start + c] for start, c in zip(offsets_of(cards), cards))
    sparse = build_sparse(spec.sparse, RowSource(spec.cardinalities, spec.embedding_dim, spec.seed, arrays),
                          ts.DTYPES[spec.precision], device)
    dense = ts.dense_engine(spec, root, device)
    return lambda ids, numerical: ts.dense_forward(dense, numerical, sparse(ids))


def check_module(module: torch.jit.ScriptModule, spec: ts.ModelSpec, root: Path, device: torch.device,
                 batches=CHECK_BATCHES) -> float:
    """Largest difference between the module and the eager engine; raises when they disagree."""
    reference = eager_forward(spec, root, device, module.table)
    worst = 0.0
    with torch.no_grad():
        for batch in batches:
            ids, numerical = example_inputs(list(spec.cardinalities), batch, device, seed=1)
            got, want = module(ids, numerical), reference(ids, numerical)
            if got.shape != want.shape or not torch.isfinite(got).all():
                raise RuntimeError(f"the scripted engine returned {tuple(got.shape)} (finite: "
                                   f"{bool(torch.isfinite(got).all())}) at batch {batch}, the engine {tuple(want.shape)}")
            diff = float((got - want).abs().max())
            worst = diff if not diff <= worst else worst      # NaN (the eager side non-finite) sticks: it fails below
    # The eager engine runs the Triton-language kernels on CUDA, the module their references: sums in another order.
    tolerance = 1e-2 if spec.precision == "fp16" else 2e-3 if spec.fp32_matmul == "tf32" else 1e-4
    if not worst <= tolerance:                            # NaN fails
        raise RuntimeError(f"the scripted engine differs from the eager engine by {worst:.3g} (> {tolerance:g})")
    return worst


def check_capture(module: torch.jit.ScriptModule, spec: ts.ModelSpec, device: torch.device, batch: int = 64) -> None:
    """The module replays from a CUDA graph, as the backend runs it; a clear error here instead of an eager
    fallback in the server."""
    ids, numerical = example_inputs(list(spec.cardinalities), batch, device, seed=2)
    with torch.no_grad():
        want = module(ids, numerical)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            module(ids, numerical)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                out = module(ids, numerical)
        except RuntimeError as e:
            raise RuntimeError(f"the scripted engine cannot be captured in a CUDA graph: {str(e)[-500:]}") from None
        graph.replay()
        torch.cuda.synchronize()
    if not torch.allclose(out, want, rtol=1e-3, atol=1e-4):
        raise RuntimeError(f"the scripted engine's CUDA graph replay differs from its eager run by "
                           f"{float((out - want).abs().max()):.3g}")


def write_module(version: Path, device: torch.device, out_name: str = "engine.pt") -> float:
    """Script ``version``'s engine, check it, and write ``version/out_name``; returns the largest difference."""
    spec = ts.ModelSpec.read(version / "spec.json")
    checked = spec if spec.tables else replace(spec, cardinalities=tuple(min(c, CHECK_ROWS) for c in spec.cardinalities))
    module = build_module(checked, version, device)  # seeded tables: checked on their first rows (same code, less memory)
    roundtrip = version / f".{out_name}.check"
    module.save(str(roundtrip))
    module = torch.jit.load(str(roundtrip))           # what the backend loads: the file, with no map_location
    roundtrip.unlink()
    module.prepare()
    worst = check_module(module, checked, version, device)
    if device.type == "cuda":
        check_capture(module, checked, device)
    module = build_module(spec, version, device)     # written unprepared: seeded rows are generated at load
    staging = version / f".{out_name}.partial"
    module.save(str(staging))
    staging.replace(version / out_name)
    return worst
