"""Sparse engines of the h100 profile, in PyTorch (the same code runs on CPU tensors in the tests).

Three engines, each labelled by what it is (``label``):
- ``FusedTable``: all 26 tables in one device tensor, per-table row offsets, one gather.
- ``PlacedTables``: the upstream size-sorted placement under ``memory_threshold_gb`` (repro.engines.placement):
  the smallest tables fused on the GPU, the tables past the budget in pinned host memory, gathered
  by the GPU over the host link (zero-copy: with unified addressing a pinned host buffer has a
  device address), so the lookup stays one CUDA-graph-capturable pass.
- ``CachedTables``: the same placement with an HPS-style GPU cache of ``gpucacheper`` of the
  host-resident rows in front of the host tables: hits read the cache, misses read pinned host
  memory and are inserted (FIFO eviction); hit statistics are kept.

Table contents come from a ``RowSource``: seeded values (performance presets, generated on the
device from the seed, never shipped) or given arrays (the trained model of the accuracy gate).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np
import torch

from repro.engines.gpu_kernels import gather_rows, gather_rows_reference
from repro.engines.placement import place_tables

CHUNK_ROWS = 1 << 20


@dataclass(frozen=True)
class RowSource:
    """Where table rows come from: ``arrays`` (one [rows, dim] array per table) or seeded values."""
    cardinalities: tuple[int, ...]
    dim: int
    seed: int = 0
    arrays: tuple[np.ndarray, ...] | None = None

    def fill(self, table: int, out: torch.Tensor, scratch_device: torch.device) -> None:
        """Write table ``table`` into ``out`` ([rows, dim], any device), chunk by chunk."""
        if self.arrays is not None:
            out.copy_(torch.from_numpy(np.ascontiguousarray(self.arrays[table])).to(out.dtype))
            return
        _fill_seeded(out, self.seed, table, CHUNK_ROWS, scratch_device)


def _fill_chunk(out: torch.Tensor, seed: int, table: int, chunk: int, scratch: torch.device) -> int:
    """Seeded rows of chunk ``chunk`` of table ``table`` (``out``: that chunk's rows), from its own generator
    drawn on ``scratch``: chunks can be drawn in any order, or at once."""
    gen = torch.Generator(device=scratch)
    gen.manual_seed(seed * 1000003 + table * 10007 + chunk)
    values = torch.rand(out.shape[0], out.shape[1], generator=gen, device=scratch, dtype=torch.float32)
    out.copy_(((values - 0.5) * 0.1).to(out.dtype))
    return chunk


def _fill_seeded(out: torch.Tensor, seed: int, table: int, chunk_rows: int, scratch: torch.device) -> None:
    """Seeded rows of table ``table``, chunk by chunk (one generator per chunk, drawn on ``scratch``)."""
    for chunk, start in enumerate(range(0, out.shape[0], chunk_rows)):
        _fill_chunk(out[start:start + chunk_rows], seed, table, chunk, scratch)


def _fill_seeded_at_once(out: torch.Tensor, seed: int, table: int, chunk_rows: int, scratch: torch.device) -> None:
    """``_fill_seeded``'s rows, the chunks drawn at once on the inter-op threads (a CPU generator draws on one
    core: 22B rows one chunk at a time take minutes). The native backend's engine module runs it, compiled to
    TorchScript (``fill_seeded``)."""
    futures = [torch.jit.fork(_fill_chunk, out[start:start + chunk_rows], seed, table, chunk, scratch)
               for chunk, start in enumerate(range(0, out.shape[0], chunk_rows))]
    for future in futures:
        torch.jit.wait(future)


with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript: what libtorch runs without Python
    fill_seeded = torch.jit.script(_fill_seeded_at_once)


def offsets_of(cardinalities: list[int] | tuple[int, ...]) -> list[int]:
    return [0, *np.cumsum(cardinalities)[:-1].tolist()]


def pinned_empty(rows: int, dim: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Host buffer the GPU can read: page-locked with cudaHostRegister (exact size; the caching
    pinned allocator would round 45 GB up to 64 GB). A plain host tensor when ``device`` is CPU."""
    host = torch.empty(rows, dim, dtype=dtype)
    return page_locked(host) if device.type == "cuda" else host


def page_locked(host: torch.Tensor) -> torch.Tensor:
    """``host`` page-locked in place with cudaHostRegister (for the process's lifetime)."""
    if host.numel():
        code = torch.cuda.cudart().cudaHostRegister(host.data_ptr(), host.numel() * host.element_size(), 0)
        if int(code) != 0:
            raise RuntimeError(f"cudaHostRegister of {host.numel() * host.element_size() / 2**30:.1f} GiB failed "
                               f"(error {int(code)}): not enough lockable host memory (ulimit -l, RAM)")
    return host


class _HostView:
    """A device-visible alias of a pinned host tensor (``__cuda_array_interface__``): kernels read
    host memory directly over the host link. Unified addressing: device pointer == host pointer."""

    def __init__(self, host: torch.Tensor):
        self.host = host
        self.__cuda_array_interface__ = {"shape": tuple(host.shape), "typestr": {torch.float16: "<f2",
                                         torch.float32: "<f4"}[host.dtype], "data": (host.data_ptr(), False),
                                         "version": 3, "strides": None}


def device_view(host: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type != "cuda" or not host.numel():
        return host
    return torch.as_tensor(_HostView(host), device=device)


class FusedTable:
    """All tables in one device tensor; ids [B, T] int32 -> [B, T, dim]."""

    def __init__(self, source: RowSource, dtype: torch.dtype, device: torch.device):
        cards = list(source.cardinalities)
        self.device, self.dim = device, source.dim
        self.table = torch.empty(sum(cards), source.dim, dtype=dtype, device=device)
        for t, start in enumerate(offsets_of(cards)):
            source.fill(t, self.table[start:start + cards[t]], device)
        self.offsets = torch.tensor(offsets_of(cards), dtype=torch.int32, device=device)
        self.label = f"fused table on the {'GPU' if device.type == 'cuda' else 'CPU'} ({self.table.numel() * self.table.element_size() / 2**30:.2f} GiB)"

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        return gather_rows(self.table, ids, self.offsets)

    def stats(self) -> dict:
        return {"engine": "fused", "gpu_bytes": self.table.numel() * self.table.element_size()}


@dataclass
class _Group:
    where: str                 # "GPU" or "CPU" (host-resident)
    features: list[int]
    table: torch.Tensor        # fused rows of the group's tables (device or pinned host)
    view: torch.Tensor         # what kernels index (device alias of host memory, or the table itself)
    offsets: torch.Tensor
    index: torch.Tensor        # feature positions, for index_select on dim 1


class PlacedTables:
    """Size-sorted placement: GPU tables fused on the device, tables past the budget in pinned host
    memory, read by the GPU over the host link; ids [B, T] int32 -> [B, T, dim] in feature order."""

    def __init__(self, source: RowSource, dtype: torch.dtype, device: torch.device, memory_threshold_gb: float,
                 placement: list[str] | None = None):
        """``placement``: the device of each table ("GPU" | "CPU") where not the size-sorted one (a check on tables
        cut to a few rows places them as the full model does)."""
        cards = list(source.cardinalities)
        bytes_per_value = torch.tensor([], dtype=dtype).element_size()
        placement = placement or place_tables(cards, source.dim, bytes_per_value, memory_threshold_gb)
        self.device, self.dim, self.threshold = device, source.dim, memory_threshold_gb
        self.groups = []
        for where in ("GPU", "CPU"):
            features = [i for i, d in enumerate(placement) if d == where]
            if not features:
                continue
            rows = sum(cards[i] for i in features)
            if where == "GPU":
                table = torch.empty(rows, source.dim, dtype=dtype, device=device)
            else:
                table = pinned_empty(rows, source.dim, dtype, device)
            local = offsets_of([cards[i] for i in features])
            for i, start in zip(features, local):
                source.fill(i, table[start:start + cards[i]], device)
            self.groups.append(_Group(where, features, table, device_view(table, device),
                                      torch.tensor(local, dtype=torch.int32, device=device),
                                      torch.tensor(features, dtype=torch.int64, device=device)))
        self.placement = placement
        gpu_b = sum(cards[i] for i, d in enumerate(placement) if d == "GPU") * source.dim * bytes_per_value
        self.label = (f"size-sorted placement under {memory_threshold_gb:g} GB: {placement.count('GPU')} tables "
                      f"({gpu_b / 2**30:.1f} GiB) on the GPU, {placement.count('CPU')} in pinned host memory read "
                      f"by the GPU over the host link")

    def gather(self, group: _Group, ids: torch.Tensor) -> torch.Tensor:
        """GPU-resident rows through the gather kernel; host-resident ones (bound by the host link)
        through PyTorch's index_select on the device alias."""
        gather = gather_rows if group.where == "GPU" else gather_rows_reference
        return gather(group.view, ids.index_select(1, group.index), group.offsets)

    def __call__(self, ids: torch.Tensor) -> torch.Tensor:
        out = torch.empty(ids.shape[0], ids.shape[1], self.dim, dtype=self.groups[0].table.dtype, device=self.device)
        for group in self.groups:
            out.index_copy_(1, group.index, self.gather(group, ids))
        return out

    def stats(self) -> dict:
        return {"engine": "placement", "memory_threshold_gb": self.threshold, "placement": self.placement}


class CachedTables(PlacedTables):
    """Placement plus an HPS-style GPU cache in front of the host-resident tables: ``gpucacheper`` of
    their rows; misses are read from pinned host memory and inserted, evicting first-in first-out.
    Not CUDA-graph capturable (the miss path is data dependent); the dense part still is."""

    def __init__(self, source: RowSource, dtype: torch.dtype, device: torch.device, memory_threshold_gb: float,
                 gpucacheper: float, placement: list[str] | None = None):
        super().__init__(source, dtype, device, memory_threshold_gb, placement)
        self.host = next((g for g in self.groups if g.where == "CPU"), None)
        self.gpucacheper = gpucacheper
        rows = self.host.table.shape[0] if self.host is not None else 0
        self.capacity = max(1, math.ceil(gpucacheper * rows)) if rows else 0
        self.cache = torch.zeros(self.capacity, self.dim, dtype=dtype, device=device)
        self.slot_of = torch.full((rows,), -1, dtype=torch.int32, device=device)
        self.key_of = torch.full((self.capacity,), -1, dtype=torch.int64, device=device)
        self.next_slot, self.hits, self.lookups = 0, 0, 0
        self.label = (f"{self.label}; HPS-style GPU cache of {gpucacheper:.0%} of the host-resident rows "
                      f"({self.capacity * self.dim * self.cache.element_size() / 2**30:.2f} GiB, FIFO insertion of misses)")

    def gather(self, group: _Group, ids: torch.Tensor) -> torch.Tensor:
        if group is not self.host:
            return super().gather(group, ids)
        rows = (ids.index_select(1, group.index) + group.offsets).reshape(-1).long()
        slots = self.slot_of.index_select(0, rows)
        hit = slots >= 0
        out = self.cache.index_select(0, slots.clamp_min(0).long())
        miss_pos = (~hit).nonzero().squeeze(1)
        self.lookups += rows.numel()
        self.hits += rows.numel() - miss_pos.numel()
        if miss_pos.numel():
            missed = rows.index_select(0, miss_pos)
            out.index_copy_(0, miss_pos, group.view.index_select(0, missed))
            self.insert(torch.unique(missed), group)
        return out.view(ids.shape[0], len(group.features), self.dim)

    def insert(self, keys: torch.Tensor, group: _Group) -> None:
        keys = keys[-self.capacity:]
        slots = (torch.arange(keys.numel(), device=keys.device) + self.next_slot) % self.capacity
        old = self.key_of.index_select(0, slots)
        evicted = old[old >= 0]
        self.slot_of.index_fill_(0, evicted, -1)
        self.slot_of.index_copy_(0, keys, slots.to(torch.int32))
        self.key_of.index_copy_(0, slots, keys)
        self.cache.index_copy_(0, slots, group.view.index_select(0, keys))
        self.next_slot = (self.next_slot + keys.numel()) % self.capacity

    @property
    def hit_rate(self) -> float:
        return self.hits / self.lookups if self.lookups else float("nan")

    def stats(self) -> dict:
        return {**super().stats(), "engine": "cache", "gpucacheper": self.gpucacheper, "cache_rows": self.capacity,
                "lookups": self.lookups, "hits": self.hits, "hit_rate": self.hit_rate}


def build_sparse(kind: str, source: RowSource, dtype: torch.dtype, device: torch.device,
                 memory_threshold_gb: float = 60.0, gpucacheper: float = 0.1, placement: list[str] | None = None):
    if kind == "fused":
        return FusedTable(source, dtype, device)
    if kind == "placement":
        return PlacedTables(source, dtype, device, memory_threshold_gb, placement)
    if kind == "cache":
        return CachedTables(source, dtype, device, memory_threshold_gb, gpucacheper, placement)
    raise ValueError(f"unknown sparse engine '{kind}' (params.yaml: profiles.<profile>.serving.criteo.configs[].sparse); "
                     "choose fused, placement or cache")
