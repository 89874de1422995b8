"""The engine's Triton-language kernels (repro.engines.gpu_kernels) as PyTorch operators, for TorchScript engines
that the native backend runs with no Python: ``native_engine: kernels``.

- ``repro::gather_rows`` and ``repro::dot_interaction`` are defined here with the schemas below. In Python they run
  the kernels as the python flavour does (Triton's JIT; the gather's PyTorch reference off CUDA), so a module traced or
  scripted with them is checked against the eager engine like any other.
- Each call carries its kernel compiled ahead of time by the serving host's Triton (``triton.compile`` of the same
  kernel source, specialised to the model's constants: tables, width, padding, precision) as a uint8 CPU tensor of
  cubin bytes, its entry name, warps and shared memory. The module stores them as constants, so engine.pt is whole.
- ``repro::host_mapped`` aliases a host tensor as a CUDA tensor, page-locked, for the placement's host-resident rows
  (the engine module's ``prepare()`` maps them; TorchScript has no other way to make such a view).
- The native backend defines the same operators in C++ (repro/native/triton_ops.cc): it loads each cubin once
  with the CUDA runtime and launches it on PyTorch's current stream (inside the backend's CUDA graphs).

The cubins are compiled with 16-byte pointer alignment hints (what Triton's JIT assumes of PyTorch's allocations);
the C++ operators check the alignment of every pointer and refuse a misaligned one.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import torch

from repro.engines import gpu_kernels as gk

SCHEMAS = {
    "gather_rows": "(Tensor table, Tensor ids, Tensor offsets, Tensor cubin, str kernel, int warps, int shared, "
                   "int block) -> Tensor",
    "dot_interaction": "(Tensor bottom, Tensor lookups, Tensor slots, int kept, int width, bool bottom_first, "
                       "Tensor cubin, str kernel, int warps, int shared) -> Tensor",
    "host_mapped": "(Tensor host) -> Tensor",
}
NUM_WARPS, NUM_STAGES = 4, 3          # Triton's JIT defaults: the python flavour's launches use them
TRITON_TYPES = {torch.float16: "*fp16", torch.float32: "*fp32"}


def _gather_rows(table, ids, offsets, cubin, kernel: str, warps: int, shared: int, block: int):
    return gk.gather_rows(table, ids, offsets, kernels=table.is_cuda)


def _dot_interaction(bottom, lookups, slots, kept: int, width: int, bottom_first: bool, cubin, kernel: str,
                     warps: int, shared: int):
    if not (bottom.is_cuda or gk.use_kernels(bottom)):   # CUDA, or Triton's interpreter (the CPU tests)
        raise RuntimeError("repro::dot_interaction runs its Triton kernel: it needs CUDA tensors")
    return gk.interaction_kernel(bottom, lookups, slots, kept, width, bottom_first)


def _host_mapped(host):
    """A CUDA tensor aliasing the CPU tensor ``host``, page-locked (the placement's host-resident rows, which the
    GPU reads over the host link). In C++ the registration ends with the alias; here, with the process."""
    if not torch.cuda.is_available():
        raise RuntimeError("repro::host_mapped maps host rows for the GPU: it needs a CUDA device")
    from repro.engines.gpu_tables import device_view, page_locked
    return device_view(page_locked(host.contiguous()), torch.device("cuda", torch.cuda.current_device()))


_LIBRARY = torch.library.Library("repro", "DEF")
for _name, _schema in SCHEMAS.items():
    _LIBRARY.define(_name + _schema)
_LIBRARY.impl("gather_rows", _gather_rows, "CompositeExplicitAutograd")
_LIBRARY.impl("dot_interaction", _dot_interaction, "CompositeExplicitAutograd")
_LIBRARY.impl("host_mapped", _host_mapped, "CPU")


@dataclass(frozen=True)
class Cubin:
    """One kernel compiled ahead of time: the operator's trailing arguments."""
    data: bytes
    name: str
    warps: int
    shared: int

    def tensor(self) -> torch.Tensor:
        return torch.frombuffer(bytearray(self.data), dtype=torch.uint8)


def target(device: torch.device | None = None) -> tuple[int, int]:
    """The compute capability to compile for: the GPU's (sm_90 for an H100/H200 when none is visible, as in a test)."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_capability(device)
    return (9, 0)


@functools.cache
def compile_kernel(kernel_name: str, signature: tuple[tuple[str, str], ...], constants: tuple[tuple[str, object], ...],
                   capability: tuple[int, int]) -> Cubin:
    """``gpu_kernels.<kernel_name>`` compiled by Triton for ``capability`` (no GPU needed: Triton's own ptxas)."""
    import triton
    from triton.backends.compiler import GPUTarget
    kernel = getattr(gk, kernel_name)
    if not isinstance(kernel, triton.runtime.JITFunction):   # Triton's interpreter (the CPU tests): the same source
        kernel = triton.runtime.JITFunction(kernel.fn)
    sig = dict(signature) | {name: "constexpr" for name, _ in constants}
    pointers = [i for i, name in enumerate(kernel.arg_names) if sig[name].startswith("*")]
    source = triton.compiler.ASTSource(fn=kernel, signature=sig, constexprs=dict(constants),
                                       attrs={(i,): [["tt.divisibility", 16]] for i in pointers})
    gpu = GPUTarget("cuda", capability[0] * 10 + capability[1], 32)
    options = triton.compiler.make_backend(gpu).parse_options({"num_warps": NUM_WARPS, "num_stages": NUM_STAGES})
    compiled = triton.compile(source, target=gpu, options=options.__dict__)
    meta = compiled.metadata
    if getattr(meta, "global_scratch_size", 0) or getattr(meta, "profile_scratch_size", 0):
        raise RuntimeError(f"Triton compiled {kernel_name} with a scratch buffer, which the native backend's "
                           "launcher does not allocate")
    return Cubin(compiled.asm["cubin"], meta.name, meta.num_warps, meta.shared)


def gather_rows(table: torch.Tensor, ids: torch.Tensor, offsets: torch.Tensor, compiled: Cubin) -> torch.Tensor:
    return torch.ops.repro.gather_rows(table, ids, offsets, compiled.tensor(), compiled.name, compiled.warps,
                                       compiled.shared, gk.GATHER_BLOCK)


def gather_cubin(dtype: torch.dtype, tables: int, dim: int, capability: tuple[int, int]) -> Cubin:
    signature = (("table", TRITON_TYPES[dtype]), ("ids", "*i32"), ("offsets", "*i32"), ("out", TRITON_TYPES[dtype]),
                 ("batch", "i32"))
    return compile_kernel("_gather_rows", signature, (("T", tables), ("D", dim), ("BLOCK", gk.GATHER_BLOCK)),
                          capability)


def interaction_cubin(dtype: torch.dtype, tables: int, dim: int, kept: int, width: int, bottom_first: bool,
                      capability: tuple[int, int]) -> Cubin:
    signature = (("bottom", TRITON_TYPES[dtype]), ("lookups", TRITON_TYPES[dtype]), ("slots", "*i32"),
                 ("out", TRITON_TYPES[dtype]))
    return compile_kernel("_dot_interaction", signature,
                          tuple(gk.interaction_constants(dtype, tables, dim, kept, width, bottom_first).items()),
                          capability)


def dot_interaction(bottom: torch.Tensor, lookups: torch.Tensor, slots: torch.Tensor, kept: int, width: int,
                    bottom_first: bool) -> torch.Tensor:
    """The traced engine's call: the operator with this model's compiled kernel as a constant."""
    tables, dim = int(lookups.shape[1]), int(lookups.shape[2])   # traced sizes: fixed per model
    compiled = interaction_cubin(bottom.dtype, tables, dim, kept, width, bottom_first, target(bottom.device))
    return torch.ops.repro.dot_interaction(bottom, lookups, slots, kept, width, bottom_first, compiled.tensor(),
                                           compiled.name, compiled.warps, compiled.shared)
