"""The h100 profile's DLRM/DCNv2 engine as one TorchScript module, for the native C++ backend
(repro/native, backend ``repro_torch``): the same engine code as the python-backend flavour
(repro.engines.torch_serving), written to a file that libtorch runs with no Python in the request path.

- Sparse: the fused table (all tables in one device tensor, per-table row offsets), or the size-sorted placement
  (``PlacedEngine``: the tables past the memory threshold in host memory that the GPU reads over the host link, as
  the python flavour's ``PlacedTables``), filled at load by the module's ``prepare()`` with the python flavour's
  seeded draw (``gpu_tables.fill_seeded``), or holding the trained rows of the accuracy gate. The cache stays on
  the python backend (its miss path is data dependent: no CUDA graph).
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
from typing import List

import numpy as np
import torch

from repro.engines import torch_serving as ts
from repro.engines.gpu_kernels import GATHER_BLOCK, gather_rows_reference, traced_as_operators
from repro.engines import triton_ops  # noqa: F401  (defines the repro operators the modules call)
from repro.engines.gpu_tables import CHUNK_ROWS, RowSource, build_sparse, fill_seeded, offsets_of
from repro.engines.placement import place_tables
from repro.errors import UserError
from repro.native import modules

TRACE_BATCH = 7                 # traced with one batch size, checked at others
CHECK_BATCHES = (1, 13, 64)
CHECK_ROWS = 4096               # rows per seeded table in the check


def seeded_rows(features: List[int], cards: List[int], dim: int, dtype: torch.dtype, device: torch.device, seed: int,
                chunk_rows: int) -> torch.Tensor:
    """Tables ``features`` (``cards`` rows each) fused into one [rows, dim] tensor on ``device``, their seeded rows
    drawn on the CPU (what the modules' ``prepare()`` runs, compiled with them)."""
    table = torch.empty(sum(cards), dim, dtype=dtype, device=device)
    start = 0
    for k in range(len(features)):
        fill_seeded(table[start:start + cards[k]], seed, features[k], chunk_rows, torch.device("cpu"))
        start += cards[k]
    return table


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
        if self.seeded:
            self.table = seeded_rows(list(range(len(self.cardinalities))), self.cardinalities, self.dim,
                                     self.table.dtype, self.offsets.device, self.seed, self.chunk_rows)

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


class PlacedEngine(torch.nn.Module):
    """The size-sorted placement as the python flavour's ``PlacedTables`` runs it: the GPU-resident tables fused on
    the device and read by the gather (``repro::gather_rows`` with ``gather``, its reference without), the others in
    host memory, which ``prepare()`` maps for the GPU (``repro::host_mapped``) and the GPU reads over the host link
    by index_select. categorical [B, T] int32, numerical [B, 13] float32 -> [B, 1] float32."""

    def __init__(self, dense: torch.jit.ScriptModule, cardinalities: list[int], placement: list[str], dim: int,
                 seed: int, gpu_table: torch.Tensor, host_table: torch.Tensor, seeded: bool, device: torch.device,
                 gather=None):
        super().__init__()
        self.dense = dense
        self.dim, self.seed, self.seeded, self.chunk_rows = dim, seed, seeded, CHUNK_ROWS
        self.gpu_features = [i for i, where in enumerate(placement) if where == "GPU"]
        self.host_features = [i for i, where in enumerate(placement) if where == "CPU"]
        self.gpu_cards = [cardinalities[i] for i in self.gpu_features]
        self.host_cards = [cardinalities[i] for i in self.host_features]
        self.register_buffer("gpu_table", gpu_table)
        self.register_buffer("host_table", host_table.cpu())
        self.register_buffer("host_view", torch.empty(0, dim, dtype=gpu_table.dtype, device=device))
        for group, features, cards in (("gpu", self.gpu_features, self.gpu_cards),
                                       ("host", self.host_features, self.host_cards)):
            self.register_buffer(f"{group}_offsets", torch.tensor(offsets_of(cards) if cards else [], dtype=torch.int32,
                                                                  device=device))
            self.register_buffer(f"{group}_index", torch.tensor(features, dtype=torch.int64, device=device))
        self.kernels = gather is not None
        self.register_buffer("gather_cubin", gather.tensor() if gather else torch.empty(0, dtype=torch.uint8))
        self.gather_kernel = gather.name if gather else ""
        self.gather_warps, self.gather_shared = (gather.warps, gather.shared) if gather else (0, 0)
        self.gather_block = GATHER_BLOCK

    @torch.jit.export
    def prepare(self) -> None:
        """The seeded rows generated at load (drawn on the CPU, as ``FusedEngine.prepare``), then the host rows
        mapped for the GPU: registered until the module is freed."""
        if self.seeded:
            self.gpu_table = seeded_rows(self.gpu_features, self.gpu_cards, self.dim, self.gpu_table.dtype,
                                         self.gpu_offsets.device, self.seed, self.chunk_rows)
            self.host_table = seeded_rows(self.host_features, self.host_cards, self.dim, self.gpu_table.dtype,
                                          torch.device("cpu"), self.seed, self.chunk_rows)
        if self.gpu_offsets.is_cuda:
            self.host_view = torch.ops.repro.host_mapped(self.host_table)
        else:
            self.host_view = self.host_table

    def gpu_lookup(self, ids: torch.Tensor) -> torch.Tensor:
        if self.kernels:
            return torch.ops.repro.gather_rows(self.gpu_table, ids, self.gpu_offsets, self.gather_cubin,
                                               self.gather_kernel, self.gather_warps, self.gather_shared,
                                               self.gather_block)
        return gather_rows_reference(self.gpu_table, ids, self.gpu_offsets)

    def forward(self, categorical: torch.Tensor, numerical: torch.Tensor) -> torch.Tensor:
        out = torch.empty(categorical.shape[0], categorical.shape[1], self.dim, dtype=self.gpu_table.dtype,
                          device=self.gpu_offsets.device)
        if len(self.gpu_features) > 0:
            out.index_copy_(1, self.gpu_index, self.gpu_lookup(categorical.index_select(1, self.gpu_index)))
        if len(self.host_features) > 0:
            out.index_copy_(1, self.host_index, gather_rows_reference(
                self.host_view, categorical.index_select(1, self.host_index), self.host_offsets))
        return self.dense(numerical, out)


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


def placement_of(spec: ts.ModelSpec) -> list[str] | None:
    """The device of each table under the spec's memory threshold (None for the fused table)."""
    if spec.sparse != "placement":
        return None
    values = torch.tensor([], dtype=ts.DTYPES[spec.precision]).element_size()
    return place_tables(list(spec.cardinalities), spec.embedding_dim, values, spec.memory_threshold_gb)


def build_module(spec: ts.ModelSpec, root: Path, device: torch.device,
                 placement: list[str] | None = None) -> torch.jit.ScriptModule:
    """The scripted engine of a python-flavour model version (``root``: its spec.json's directory). ``placement``:
    the tables' devices where not the spec's own (the check cuts the tables, and places them as the full model)."""
    if spec.sparse not in ("fused", "placement"):
        raise ValueError(f"the native backend serves the fused table and the placement, not '{spec.sparse}' "
                         "(its miss path is data dependent; params.yaml: profiles.<profile>.serving.criteo.configs)")
    dense_engine = ts.dense_engine(spec, root, device)
    dtype = ts.DTYPES[spec.precision]
    cards = list(spec.cardinalities)
    _, numerical = example_inputs(cards, TRACE_BATCH, device)
    lookups = torch.zeros(TRACE_BATCH, len(cards), spec.embedding_dim, dtype=dtype, device=device)
    kernels = spec.native_engine == "kernels"
    with traced_as_operators() if kernels else contextlib.nullcontext():
        dense = modules.trace(_Dense(dense_engine), (numerical, lookups))
    rows = ts.row_source(spec, root).arrays if spec.tables else None
    empty = torch.empty(0, spec.embedding_dim, dtype=dtype)
    joined = lambda features: (torch.from_numpy(np.ascontiguousarray(np.concatenate([rows[i] for i in features])))
                               .to(dtype) if rows is not None and features else empty)
    if spec.sparse == "placement":
        placement = placement or placement_of(spec)
        on = {where: [i for i, d in enumerate(placement) if d == where] for where in ("GPU", "CPU")}
        gather = (triton_ops.gather_cubin(dtype, len(on["GPU"]), spec.embedding_dim, triton_ops.target(device))
                  if kernels and on["GPU"] else None)
        return modules.script(PlacedEngine(dense, cards, placement, spec.embedding_dim, spec.seed,
                                           joined(on["GPU"]).to(device), joined(on["CPU"]), rows is None, device, gather))
    table = joined(range(len(cards))).to(device)
    if kernels:
        gather = triton_ops.gather_cubin(dtype, len(cards), spec.embedding_dim, triton_ops.target(device))
        return modules.script(KernelFusedEngine(dense, cards, spec.embedding_dim, spec.seed, table, not spec.tables,
                                                device, gather))
    return modules.script(FusedEngine(dense, cards, spec.embedding_dim, spec.seed, table, not spec.tables, device))


def module_rows(module: torch.jit.ScriptModule, spec: ts.ModelSpec) -> tuple[np.ndarray, ...]:
    """Each table's rows as the (prepared) module holds them."""
    cards = list(spec.cardinalities)
    if spec.sparse != "placement":
        rows = module.table.float().cpu().numpy()
        return tuple(rows[start:start + c] for start, c in zip(offsets_of(cards), cards))
    out: dict[int, np.ndarray] = {}
    for features, table in ((module.gpu_features, module.gpu_table), (module.host_features, module.host_table)):
        rows = table.float().cpu().numpy()
        starts = offsets_of([cards[i] for i in features]) if features else []
        out |= {i: rows[start:start + cards[i]] for i, start in zip(features, starts)}
    return tuple(out[i] for i in range(len(cards)))


def eager_forward(spec: ts.ModelSpec, root: Path, device: torch.device, rows: tuple[np.ndarray, ...],
                  placement: list[str] | None = None):
    """The python flavour's forward, uncaptured, over the module's rows (``module_rows``): the sparse engine, then
    the dense engine (what the module must match)."""
    sparse = build_sparse(spec.sparse, RowSource(spec.cardinalities, spec.embedding_dim, spec.seed, rows),
                          ts.DTYPES[spec.precision], device, spec.memory_threshold_gb, spec.gpucacheper, placement)
    dense = ts.dense_engine(spec, root, device)
    return lambda ids, numerical: ts.dense_forward(dense, numerical, sparse(ids))


def check_module(module: torch.jit.ScriptModule, spec: ts.ModelSpec, root: Path, device: torch.device,
                 batches=CHECK_BATCHES, placement: list[str] | None = None) -> float:
    """Largest difference between the module and the eager engine; raises when they disagree."""
    reference = eager_forward(spec, root, device, module_rows(module, spec), placement)
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
    reference = eager_forward(spec, version, device, module_rows(module, spec))
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
    if spec.native_engine == "aoti" and spec.sparse != "fused":
        raise UserError(f"{version / 'spec.json'}: native_engine 'aoti' compiles the fused table's engine only, not "
                        f"'{spec.sparse}'; serve it with native_engine: kernels or torchscript (params.yaml: "
                        "profiles.<profile>.serving.criteo.native_engine)")
    placement = placement_of(spec)            # the full model's, kept when the check cuts the tables
    checked = spec if spec.tables else replace(spec, cardinalities=tuple(min(c, CHECK_ROWS) for c in spec.cardinalities))
    # seeded tables: checked on their first rows
    module = modules.roundtrip(build_module(checked, version, device, placement), version, out_name)
    module.prepare()
    worst = check_module(module, checked, version, device, placement=placement)
    if device.type == "cuda":
        modules.check_capture(module, examples_of(checked, device), 64)
    if spec.native_engine == "aoti":   # compiled for any table size: checked on the cut rows, served on all
        worst = max(worst, write_package(checked, version, device, module))
    # unprepared: the seeded rows are made at load
    modules.save(build_module(spec, version, device, placement), version / out_name)
    return worst
