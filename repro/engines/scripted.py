"""The h100 profile's DLRM/DCNv2 engine as one TorchScript module, for the native C++ backend
(repro/native, backend ``repro_torch``): the same engine code as the python-backend flavour
(repro.engines.torch_serving), written to a file that libtorch runs with no Python in the request path.

- Sparse: the fused table (all tables in one device tensor, per-table row offsets), filled at load by
  the module's ``prepare()`` with the same TorchScript function the python flavour fills it with
  (``gpu_tables.fill_seeded``), or holding the trained rows of the accuracy gate.
- Dense: the converted ONNX graph on the torch backend (``torch_serving.dense_engine``), traced.
  Triton-language kernels are invisible to the tracer, so the traced dense part runs their plain
  PyTorch references (``gpu_kernels.use_kernels``); the python flavour runs the kernels.

``write_module`` checks the module as the backend loads it against the eager engine at batch sizes other
than the one it was traced with (repro.native.modules), and refuses to write a module that disagrees.

With ``native_engine: aoti`` (spec.json) the forward is also compiled, by the host's PyTorch, into an
AOTInductor package (``engine.pt2``, repro.native.modules.export_package): the same engine code exported with
a dynamic batch, Inductor's kernels generated from it. The table is not compiled in: the package takes it as
its last input, and the backend passes the TorchScript module's table, filled by ``prepare()`` (native.txt:
``package engine.pt2``, ``state table``). The package is checked like the module, and written only if it agrees.

With ``native_engine: kernels`` the module runs the python flavour's Triton-language kernels instead of their
references: the lookup and the dot interaction are the operators ``repro::gather_rows`` / ``repro::dot_interaction``
(repro.engines.triton_ops), each carrying its kernel compiled on the host by Triton, which the backend launches.
"""
from __future__ import annotations

import contextlib
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from repro.engines import torch_serving as ts
from repro.engines.gpu_kernels import GATHER_BLOCK, gather_rows_reference, traced_as_operators
from repro.engines.gpu_tables import CHUNK_ROWS, RowSource, build_sparse, fill_seeded, offsets_of
from repro.errors import UserError
from repro.native import modules

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


class KernelFusedEngine(FusedEngine):
    """``FusedEngine`` whose lookup is ``repro::gather_rows``, with the kernel compiled for this model."""

    def __init__(self, dense: torch.jit.ScriptModule, cardinalities: list[int], dim: int, seed: int,
                 table: torch.Tensor, seeded: bool, device: torch.device, gather):
        super().__init__(dense, cardinalities, dim, seed, table, seeded, device)
        self.register_buffer("gather_cubin", gather.tensor())
        self.gather_kernel, self.gather_warps, self.gather_shared = gather.name, gather.warps, gather.shared
        self.gather_block = GATHER_BLOCK

    def forward(self, categorical: torch.Tensor, numerical: torch.Tensor) -> torch.Tensor:
        lookups = torch.ops.repro.gather_rows(self.table, categorical, self.offsets, self.gather_cubin,
                                              self.gather_kernel, self.gather_warps, self.gather_shared,
                                              self.gather_block)
        return self.dense(numerical, lookups)


class StatelessEngine(torch.nn.Module):
    """``FusedEngine.forward`` with the table and its row offsets as inputs (what the package compiles):
    categorical [B, T] int32, numerical [B, 13] float32, table [rows, dim], offsets [T] int32 -> [B, 1] float32."""

    def __init__(self, dense: torch.nn.Module):
        super().__init__()
        self.dense = dense

    def forward(self, categorical: torch.Tensor, numerical: torch.Tensor, table: torch.Tensor,
                offsets: torch.Tensor) -> torch.Tensor:
        lookups = table.index_select(0, (categorical + offsets).reshape(-1))
        return self.dense(numerical, lookups.view(categorical.shape[0], categorical.shape[1], table.shape[1]))


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
    kernels = spec.native_engine == "kernels"
    with traced_as_operators() if kernels else contextlib.nullcontext():
        dense = modules.trace(_Dense(dense_engine), (numerical, lookups))
    if spec.tables:
        table = torch.from_numpy(np.ascontiguousarray(np.concatenate(ts.row_source(spec, root).arrays))).to(dtype)
        table = table.to(device)
    else:
        table = torch.empty(0, spec.embedding_dim, dtype=dtype, device=device)
    if kernels:
        from repro.engines import triton_ops
        gather = triton_ops.gather_cubin(dtype, len(cards), spec.embedding_dim, triton_ops.target(device))
        return modules.script(KernelFusedEngine(dense, cards, spec.embedding_dim, spec.seed, table, not spec.tables,
                                                device, gather))
    return modules.script(FusedEngine(dense, cards, spec.embedding_dim, spec.seed, table, not spec.tables, device))


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
    worst = modules.largest_difference(module, reference, examples_of(spec, device), batches)
    return modules.check_difference(worst, tolerance_of(spec))


def examples_of(spec: ts.ModelSpec, device: torch.device) -> modules.Examples:
    return lambda batch, seed: example_inputs(list(spec.cardinalities), batch, device, seed=seed)


PACKAGE = "engine.pt2"
STATE = ("table", "offsets")   # the package's trailing inputs: the TorchScript module's attributes of these names


def write_package(spec: ts.ModelSpec, version: Path, device: torch.device, module: torch.jit.ScriptModule) -> float:
    """The forward compiled into ``version/engine.pt2``, checked against the eager engine over ``module``'s
    prepared table (as the backend passes it); returns the largest difference."""
    engine = StatelessEngine(_Dense(ts.dense_engine(spec, version, device))).eval()
    batch, rows = torch.export.Dim("batch", min=1), torch.export.Dim("rows", min=2)
    ids, numerical = example_inputs(list(spec.cardinalities), TRACE_BATCH, device)
    state = tuple(getattr(module, name) for name in STATE)
    modules.export_package(engine, (ids, numerical, *state), ({0: batch}, {0: batch}, {0: rows}, None),
                           version / PACKAGE)
    package = modules.load_package(version / PACKAGE)
    compiled = lambda ids, numerical: package(ids, numerical, *state)
    reference = eager_forward(spec, version, device, module.table)
    worst = modules.largest_difference(compiled, reference, examples_of(spec, device), CHECK_BATCHES)
    try:
        modules.check_difference(worst, tolerance_of(spec))
        if device.type == "cuda":
            modules.check_capture(compiled, examples_of(spec, device), 64)
    except RuntimeError:
        (version / PACKAGE).unlink()
        raise
    return worst


def tolerance_of(spec: ts.ModelSpec) -> float:
    # The eager engine runs the Triton-language kernels on CUDA, the module their references: sums in another order.
    return 1e-2 if spec.precision == "fp16" else 2e-3 if spec.fp32_matmul == "tf32" else 1e-4


def write_module(version: Path, device: torch.device, out_name: str = "engine.pt") -> float:
    """Script ``version``'s engine, check it, and write ``version/out_name`` (and, with ``native_engine: aoti``,
    the compiled package beside it); returns the largest difference."""
    spec = ts.ModelSpec.read(version / "spec.json")
    if spec.native_engine == "kernels" and device.type != "cuda":
        raise UserError(f"{version / 'spec.json'}: native_engine 'kernels' launches Triton cubins and needs a CUDA "
                        "device; serve this profile with native_engine: torchscript (params.yaml: "
                        "profiles.<profile>.serving.criteo.native_engine)")
    checked = spec if spec.tables else replace(spec, cardinalities=tuple(min(c, CHECK_ROWS) for c in spec.cardinalities))
    module = modules.roundtrip(build_module(checked, version, device), version, out_name)   # seeded tables: checked
    module.prepare()                                                                         # on their first rows
    worst = check_module(module, checked, version, device)
    if device.type == "cuda":
        modules.check_capture(module, examples_of(checked, device), 64)
    if spec.native_engine == "aoti":   # compiled for any table size: checked on the cut rows, served on all
        worst = max(worst, write_package(checked, version, device, module))
    modules.save(build_module(spec, version, device), version / out_name)   # unprepared: seeded rows made at load
    return worst
