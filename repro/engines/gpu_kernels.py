"""Triton kernels of the h100 profile's PyTorch engines, each with the plain-PyTorch reference it
replaces (used on CPU tensors, and where Triton is missing):

- ``gather_rows``: embedding lookup in a fused table, ``out[b, t] = table[offsets[t] + ids[b, t]]``,
  one program per (block of samples, table), so the blocks running together read one table's pages.
- ``dot_interaction``: DLRM's dot interaction in one pass per sample. The [1 + T, D] stack of the
  bottom-MLP output and the lookups, its pairwise dot products (tensor cores), the pairs the graph
  keeps written where the graph's Gather puts them, the bottom output beside them, and zero padding
  to the next Linear's width. On PyTorch ops this is concat, bmm, reshape, gather, concat and pad:
  six passes over the activations.

The CPU tests run the kernels through Triton's interpreter (``TRITON_INTERPRET=1``).

Traced for the native backend (``traced_as_operators``), the dot interaction is recorded as the operator
``repro::dot_interaction`` carrying its kernel compiled ahead of time (repro.engines.triton_ops), not as its reference.
"""
from __future__ import annotations

import contextlib
import os

import torch

try:
    import triton
    import triton.language as tl
except ImportError:  # the tests' CPU environment may lack Triton: the references run instead
    triton = None

GATHER_BLOCK = 64


def use_kernels(*tensors: torch.Tensor) -> bool:
    """Kernels run on CUDA tensors, or on CPU ones under Triton's interpreter; never while TorchScript
    traces the engine (a kernel launch is invisible to the tracer: the traced engine uses the references), nor
    while torch.export traces it for AOTInductor (which generates its own kernels from the references)."""
    if triton is None or torch.jit.is_tracing() or torch.compiler.is_compiling():
        return False
    return all(t.is_cuda for t in tensors) or os.environ.get("TRITON_INTERPRET") == "1"


def gather_rows_reference(table: torch.Tensor, ids: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    rows = (ids + offsets).reshape(-1)
    return table.index_select(0, rows).view(ids.shape[0], ids.shape[1], table.shape[1])


def cached_gather_reference(cache: torch.Tensor, table: torch.Tensor, slot_of: torch.Tensor, ids: torch.Tensor,
                            offsets: torch.Tensor) -> torch.Tensor:
    rows = (ids + offsets).reshape(-1).long()
    slots = slot_of.index_select(0, rows).long()
    hit = (slots >= 0).unsqueeze(1)
    out = torch.where(hit, cache.index_select(0, slots.clamp_min(0)), table.index_select(0, rows))
    return out.view(ids.shape[0], ids.shape[1], table.shape[1])


def interaction_reference(bottom: torch.Tensor, lookups: torch.Tensor, pairs: torch.Tensor, width: int,
                          bottom_first: bool) -> torch.Tensor:
    z = torch.cat([bottom.unsqueeze(1), lookups], dim=1)
    dots = torch.bmm(z, z.transpose(1, 2)).reshape(z.shape[0], -1).index_select(1, pairs.long())
    parts = [bottom, dots] if bottom_first else [dots, bottom]
    out = torch.cat(parts, dim=1)
    return torch.nn.functional.pad(out, (0, width - out.shape[1])) if width > out.shape[1] else out


if triton is not None:
    @triton.jit
    def _gather_rows(table, ids, offsets, out, batch, T: tl.constexpr, D: tl.constexpr, BLOCK: tl.constexpr):
        t = tl.program_id(1)
        b = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        keep = b < batch
        row = tl.load(ids + b * T + t, mask=keep, other=0).to(tl.int64) + tl.load(offsets + t).to(tl.int64)
        d = tl.arange(0, D)
        values = tl.load(table + row[:, None] * D + d[None, :], mask=keep[:, None])
        tl.store(out + (b[:, None] * T + t) * D + d[None, :], values, mask=keep[:, None])

    @triton.jit
    def _cached_gather(cache, table, slot_of, ids, offsets, out, batch, T: tl.constexpr, D: tl.constexpr,
                       BLOCK: tl.constexpr):
        t = tl.program_id(1)
        b = tl.program_id(0).to(tl.int64) * BLOCK + tl.arange(0, BLOCK)
        keep = b < batch
        row = tl.load(ids + b * T + t, mask=keep, other=0).to(tl.int64) + tl.load(offsets + t).to(tl.int64)
        slot = tl.load(slot_of + row, mask=keep, other=-1).to(tl.int64)
        hit = slot >= 0
        d = tl.arange(0, D)
        cached = tl.load(cache + slot[:, None] * D + d[None, :], mask=(keep & hit)[:, None], other=0.0)
        missed = tl.load(table + row[:, None] * D + d[None, :], mask=(keep & (slot < 0))[:, None], other=0.0)
        tl.store(out + (b[:, None] * T + t) * D + d[None, :], tl.where(hit[:, None], cached, missed),
                 mask=keep[:, None])

    @triton.jit
    def _dot_interaction(bottom, lookups, slots, out, T: tl.constexpr, D: tl.constexpr, P: tl.constexpr,
                         WIDTH: tl.constexpr, BOTTOM_AT: tl.constexpr, PAD_AT: tl.constexpr, PAD: tl.constexpr,
                         PRECISION: tl.constexpr):
        b = tl.program_id(0).to(tl.int64)
        r = tl.arange(0, P)
        d = tl.arange(0, D)
        x = tl.load(bottom + b * D + d)
        is_lookup = (r >= 1) & (r <= T)
        z = tl.load(lookups + (b * T + r[:, None] - 1) * D + d[None, :], mask=is_lookup[:, None], other=0.0)
        z = tl.where((r == 0)[:, None], x[None, :], z)
        dots = tl.dot(z, tl.trans(z), input_precision=PRECISION)
        slot = tl.load(slots + r[:, None] * P + r[None, :])
        row = out + b * WIDTH
        tl.store(row + slot, dots.to(out.dtype.element_ty), mask=slot >= 0)
        tl.store(row + BOTTOM_AT + d, x)
        if PAD > 0:
            p = tl.arange(0, PAD)
            tl.store(row + PAD_AT + p, tl.zeros([PAD], dtype=out.dtype.element_ty), mask=PAD_AT + p < WIDTH)


def gather_rows(table: torch.Tensor, ids: torch.Tensor, offsets: torch.Tensor,
                kernels: bool | None = None) -> torch.Tensor:
    """[B, T] ids (int32) -> [B, T, D] rows of ``table`` ([rows, D], D a power of two); ``kernels``: whether to
    launch the kernel (default: ``use_kernels``)."""
    batch, tables = ids.shape
    dim = table.shape[1]
    if not (use_kernels(table, ids, offsets) if kernels is None else kernels) or dim & (dim - 1):
        return gather_rows_reference(table, ids, offsets)
    out = torch.empty(batch, tables, dim, dtype=table.dtype, device=ids.device)
    if batch:
        _gather_rows[(triton.cdiv(batch, GATHER_BLOCK), tables)](table, ids.contiguous(), offsets, out, batch,
                                                                  tables, dim, GATHER_BLOCK)
    return out


def cached_gather(cache: torch.Tensor, table: torch.Tensor, slot_of: torch.Tensor, ids: torch.Tensor,
                  offsets: torch.Tensor) -> torch.Tensor:
    """[B, T] ids (int32) -> [B, T, D]: row ``offsets[t] + ids[b, t]`` of ``table`` read from ``cache`` at
    ``slot_of[row]`` where that is >= 0 (a hit: device memory), from ``table`` otherwise (a miss: host memory
    for the placement's host tables). One pass, no data-dependent shapes: a CUDA graph can hold it."""
    batch, tables = ids.shape
    dim = table.shape[1]
    if not use_kernels(cache, slot_of, ids, offsets) or dim & (dim - 1):
        return cached_gather_reference(cache, table, slot_of, ids, offsets)
    out = torch.empty(batch, tables, dim, dtype=table.dtype, device=ids.device)
    if batch:
        _cached_gather[(triton.cdiv(batch, GATHER_BLOCK), tables)](cache, table, slot_of, ids.contiguous(), offsets,
                                                                    out, batch, tables, dim, GATHER_BLOCK)
    return out


def padded_features(features: int) -> int:
    """The stack's height in the kernel: a power of two, at least 16 (tensor-core tile)."""
    return max(16, 1 << (features - 1).bit_length())


def interaction_slots(pairs: list[int], features: int, first_column: int) -> torch.Tensor:
    """[P * P] int32 (P = padded_features): the output column of each (i, j) dot product, -1 where
    it is dropped; ``pairs`` are flat indices i * features + j, in output order from ``first_column``."""
    padded = padded_features(features)
    slots = torch.full((padded, padded), -1, dtype=torch.int32)
    for position, flat in enumerate(pairs):
        slots[flat // features, flat % features] = first_column + position
    return slots.reshape(-1)


class DotInteraction:
    """[B, D] bottom output and [B, T, D] lookups -> [B, width]: the kept pairwise dot products of
    the stacked features (``pairs``: flat indices into the (1 + T) x (1 + T) products, in output
    order), the bottom output before or after them, and zeros up to a multiple of ``pad_to``."""

    def __init__(self, pairs: list[int], bottom_first: bool, pad_to: int, device: torch.device | str):
        self.pairs, self.bottom_first, self.pad_to = list(pairs), bottom_first, pad_to
        self.pair_index = torch.tensor(self.pairs, dtype=torch.int64, device=device)
        self.slots: torch.Tensor | None = None      # built on the first kernel call

    def __call__(self, bottom: torch.Tensor, lookups: torch.Tensor) -> torch.Tensor:
        batch, tables, dim = lookups.shape
        if max(self.pairs, default=0) >= (tables + 1) ** 2:
            raise ValueError(f"dot interaction: pair index {max(self.pairs)} is outside the {tables + 1} x {tables + 1} "
                             "products of the bottom output and the lookups")
        width = -(-(len(self.pairs) + dim) // self.pad_to) * self.pad_to
        kernel_shape = not (dim & (dim - 1) or dim < 16)
        if _AS_OPERATORS and kernel_shape and torch.jit.is_tracing():   # (shapes are traced values: fixed here)
            from repro.engines import triton_ops
            tables, dim, width = int(tables), int(dim), int(width)
            tracing = torch._C._get_tracing_state()   # the slots are a constant of the graph, made on its device:
            torch._C._set_tracing_state(None)         # not a host-to-device copy per call (a CUDA graph refuses it)
            try:
                slots = self._slots(tables + 1, dim, bottom.device)
            finally:
                torch._C._set_tracing_state(tracing)
            return triton_ops.dot_interaction(bottom, lookups, slots, len(self.pairs), width, self.bottom_first)
        if not use_kernels(bottom, lookups) or not kernel_shape:
            return interaction_reference(bottom, lookups, self.pair_index, width, self.bottom_first)
        if self.slots is None:
            self.slots = self._slots(tables + 1, dim, bottom.device)
        return interaction_kernel(bottom, lookups, self.slots, len(self.pairs), width, self.bottom_first)

    def _slots(self, features: int, dim: int, device: torch.device) -> torch.Tensor:
        return interaction_slots(self.pairs, features, dim if self.bottom_first else 0).to(device)


_AS_OPERATORS = False


@contextlib.contextmanager
def traced_as_operators():
    """While tracing the native backend's engine: the dot interaction recorded as ``repro::dot_interaction``."""
    global _AS_OPERATORS
    _AS_OPERATORS, before = True, _AS_OPERATORS
    try:
        yield
    finally:
        _AS_OPERATORS = before


def interaction_constants(dtype: torch.dtype, tables: int, dim: int, kept: int, width: int,
                          bottom_first: bool) -> dict:
    """The kernel's compile-time arguments (``_dot_interaction``'s constexprs) for one model."""
    pad_at = kept + dim
    pad = 1 << (width - pad_at - 1).bit_length() if width > pad_at else 0
    precision = "ieee" if dtype == torch.float32 and not torch.backends.cuda.matmul.allow_tf32 else "tf32"
    return {"T": tables, "D": dim, "P": padded_features(tables + 1), "WIDTH": width,
            "BOTTOM_AT": 0 if bottom_first else kept, "PAD_AT": pad_at, "PAD": pad, "PRECISION": precision}


def interaction_kernel(bottom, lookups, slots, kept: int, width: int, bottom_first: bool) -> torch.Tensor:
    batch, tables, dim = lookups.shape
    out = torch.empty(batch, width, dtype=bottom.dtype, device=bottom.device)
    if batch:
        _dot_interaction[(batch,)](bottom.contiguous(), lookups.contiguous(), slots, out,
                                   *interaction_constants(bottom.dtype, tables, dim, kept, width, bottom_first).values())
    return out

