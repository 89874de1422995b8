"""TorchScript engines for the native backend ``repro_torch``, for any family: traced from the family's own
engine code on the host that serves them, loaded back from the file exactly as the backend loads it (no
map_location), checked against the eager engine at batch sizes other than the traced one and, on CUDA,
replayed from a CUDA graph as the backend runs it. The file is written whole, then renamed.

A family gives ``examples(batch, seed)``: inputs in the order the module's ``forward`` takes them (the order of
the model's ``input`` lines in native.txt), drawn afresh for each seed.

Compiled engines (``export_package``): the same engine code exported (torch.export, the batch dimension
dynamic) and compiled by the host's PyTorch into an AOTInductor package (``.pt2``: Inductor's generated kernels,
C++ on the CPU, Triton-language on CUDA) that libtorch runs through its package loader. Large state (a family's
tables) is not compiled in: the package takes it as trailing inputs, which the backend takes from the
TorchScript module's attributes after its ``prepare()`` (native.txt: ``state <name> ...``).
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Callable

import torch

Examples = Callable[[int, int], tuple]          # (batch, seed) -> forward's inputs


def as_the_backend_runs():
    """The graph run as written, as torch_backend.cc runs it (``setGraphExecutorOptimize(false)``): no profiling
    executor re-specialising the graph for each new batch size, and no fuser compiling kernels on the first calls
    (on a GPU, inside the CUDA-graph capture too)."""
    return torch.jit.optimized_execution(False)


def trace(module: torch.nn.Module, inputs: tuple) -> torch.jit.ScriptModule:
    """``module`` traced on ``inputs``; the shape tests in a graph are on feature widths, fixed per model, and
    the checks below run other batch sizes."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.trace(module, inputs, check_trace=False)


def script(module: torch.nn.Module) -> torch.jit.ScriptModule:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript is what libtorch runs without Python
        return torch.jit.script(module)


def save(module: torch.jit.ScriptModule, path: Path) -> None:
    staging = path.with_name(f".{path.name}.partial")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)   # TorchScript is what libtorch runs without Python
        module.save(str(staging))
    staging.replace(path)


def roundtrip(module: torch.jit.ScriptModule, version: Path, name: str) -> torch.jit.ScriptModule:
    """The module as the backend will see it: saved, then loaded from the file with no map_location."""
    path = version / f".{name}.check"
    save(module, path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path))
    finally:
        path.unlink()


def largest_difference(module, reference: Callable, examples: Examples, batches, seed: int = 1) -> float:
    """Largest absolute difference between ``module`` and ``reference`` over ``batches``; raises when a shape
    differs or the module's output is not finite. A NaN difference (a non-finite reference) is returned as NaN."""
    worst = 0.0
    with torch.no_grad(), as_the_backend_runs():
        for batch in batches:
            inputs = examples(batch, seed)
            got, want = module(*inputs), reference(*inputs)
            if got.shape != want.shape or not torch.isfinite(got).all():
                raise RuntimeError(f"the scripted engine returned {tuple(got.shape)} (finite: "
                                   f"{bool(torch.isfinite(got).all())}) at batch {batch}, the engine {tuple(want.shape)}")
            diff = float((got.float() - want.float()).abs().max())
            worst = diff if not diff <= worst else worst      # NaN sticks: the caller's gate fails on it
    return worst


def check_difference(worst: float, tolerance: float) -> float:
    if not worst <= tolerance:                                # NaN fails
        raise RuntimeError(f"the scripted engine differs from the eager engine by {worst:.3g} (> {tolerance:g})")
    return worst


def check_capture(module, examples: Examples, batch: int, seed: int = 2, rtol: float = 1e-3, atol: float = 1e-4) -> None:
    """The module replays from a CUDA graph, as the backend runs it; a clear error here instead of an eager
    fallback in the server."""
    inputs = examples(batch, seed)
    with torch.no_grad(), as_the_backend_runs():
        want = module(*inputs)
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            module(*inputs)
        torch.cuda.current_stream().wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        try:
            with torch.cuda.graph(graph):
                out = module(*inputs)
        except RuntimeError as e:
            raise RuntimeError(f"the scripted engine cannot be captured in a CUDA graph: {str(e)[-500:]}") from None
        graph.replay()
        torch.cuda.synchronize()
    if not torch.allclose(out, want, rtol=rtol, atol=atol):
        raise RuntimeError(f"the scripted engine's CUDA graph replay differs from its eager run by "
                           f"{float((out - want).abs().max()):.3g}")


def write_checked(module: torch.jit.ScriptModule, version: Path, reference: Callable, examples: Examples,
                  batches, tolerance: float, device: torch.device, out_name: str = "engine.pt",
                  capture_batch: int = 8) -> float:
    """Check ``module`` as the backend loads it against the eager ``reference`` and write ``version/out_name``;
    returns the largest difference."""
    loaded = roundtrip(module, version, out_name)
    worst = check_difference(largest_difference(loaded, reference, examples, batches), tolerance)
    if device.type == "cuda":
        check_capture(loaded, examples, capture_batch)
    save(module, version / out_name)
    return worst


def export_package(module: torch.nn.Module, inputs: tuple, dynamic: tuple, path: Path) -> Path:
    """``module`` exported on ``inputs`` (``dynamic``: per input, ``{dim: torch.export.Dim}`` or None) and compiled
    into the AOTInductor package ``path`` (written whole, then renamed). Compiling takes tens of seconds."""
    import torch._inductor
    staging = path.with_name(f".{path.stem}.partial.pt2")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        exported = torch.export.export(module, inputs, dynamic_shapes=dynamic)
        torch._inductor.aoti_compile_and_package(exported, package_path=str(staging))
    staging.replace(path)
    return path


def load_package(path: Path):
    """The package as the backend runs it (libtorch's AOTIModelPackageLoader, through its Python binding)."""
    import torch._inductor
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch._inductor.aoti_load_package(str(path))
