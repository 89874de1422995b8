"""A model of the native C++ backend ``repro_torch`` in a Triton repository, for any family:

- written with the repository (on any machine): ``config.pbtxt`` (Triton's protobuf) and the version's
  ``native.txt``, the backend's settings (torch_backend.cc reads them);
- prepared on the machine that serves it, before the server starts (``prepare``): the backend library
  compiled against that machine's libtorch into the model folder, and ``engine.pt`` written by the
  family's engine code (a TorchScript module with ``forward`` and, optionally, ``prepare``).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

from repro.native import build
from repro.serving import model_config as mcfg
from repro.serving.model_config import Tensor

BACKEND = "repro_torch"
SETTINGS = "native.txt"
MODULE = "engine.pt"
DTYPES = {"INT32": "int32", "FP32": "float32", "FP16": "float16"}


def settings_text(inputs: list[Tensor], output: Tensor, device: str, graph_batches: list[int] = (),
                  chunk_rows: int = 0, join_requests: bool = False, tf32: bool | None = None,
                  cudnn_benchmark: bool = False, package: str | None = None, state: tuple[str, ...] = ()) -> str:
    """native.txt (torch_backend.cc's settings); ``tf32`` None keeps libtorch's defaults. With ``package`` the
    backend runs that AOTInductor package instead of the module's forward, passing the module's ``state``
    attributes (read after its ``prepare()``) after the inputs."""
    for t in (*inputs, output):
        if t.dtype not in DTYPES:
            raise ValueError(f"the native backend takes {', '.join(DTYPES)} tensors, not {t.dtype} ({t.name})")
    lines = ["# repro_torch settings (repro/native/torch_backend.cc); written with the repository",
             f"module {MODULE}", *([f"package {package}", f"state {' '.join(state)}".rstrip()] if package else []),
             f"device {device}",
             *(f"input {t.name} {DTYPES[t.dtype]} {' '.join(map(str, t.dims))}" for t in inputs),
             f"output {output.name} {DTYPES[output.dtype]} {' '.join(map(str, output.dims))}",
             f"graph_batches {' '.join(map(str, sorted(set(graph_batches))))}".rstrip(),
             f"chunk_rows {chunk_rows}", *(["join_requests 1"] if join_requests else []),
             *([f"tf32 {int(tf32)}"] if tf32 is not None else []), *(["cudnn_benchmark 1"] if cudnn_benchmark else []),
             "stats stats.json"]
    return "\n".join(lines) + "\n"


def write_model(model_dir: Path, name: str, inputs: list[Tensor], output: Tensor, device: str, max_batch: int,
                graph_batches: list[int] = (), chunk_rows: int = 0, dynamic_batching: bool = False,
                tf32: bool | None = None, cudnn_benchmark: bool = False, package: str | None = None,
                state: tuple[str, ...] = ()) -> Path:
    """config.pbtxt and version 1's native.txt; returns the version directory (the family adds its files).
    With ``dynamic_batching`` the server joins concurrent requests (preferred: the maximum batch, no queue delay,
    as the python flavours) and the backend runs them as one batch in the smallest graph that holds them."""
    version = model_dir / "1"
    version.mkdir(parents=True)
    (version / SETTINGS).write_text(settings_text(inputs, output, device, graph_batches, chunk_rows, dynamic_batching,
                                                  tf32, cudnn_benchmark, package, state))
    config = build.model_config(name, BACKEND, max_batch, inputs, [output], instances=1,
                                kind="KIND_GPU" if device == "cuda" else "KIND_CPU")
    if dynamic_batching:
        mcfg.add_dynamic_batching(config, [max_batch])
    (model_dir / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    return version


def device_of(version: Path) -> str:
    for line in (version / SETTINGS).read_text().splitlines():
        if line.startswith("device "):
            return line.split()[1]
    raise ValueError(f"{version / SETTINGS} names no device (rewrite the repository)")


def library(backend: str, cuda: bool) -> Path:
    """The compiled backend, built once per host for its exact compile line and sources (a cache under
    ``$REPRO_NATIVE_CACHE``, default ``~/.cache/repro/native``, keyed by their hash): the accuracy and perf stages
    of one run share it."""
    key = build.build_key(backend, cuda)
    root = Path(os.environ.get("REPRO_NATIVE_CACHE", Path.home() / ".cache" / "repro" / "native")) / key
    found = root / build.library_name(backend)
    return found if found.exists() else build.build(backend, root, cuda=cuda)


def prepare(model_dir: Path, write_engine: Callable[[Path, str], object], backend: str = BACKEND) -> None:
    """Compile the backend into ``model_dir`` and write the version's engine (``write_engine(version, device)``)."""
    version = model_dir / "1"
    device = device_of(version)
    shutil.copy(library(backend, device == "cuda"), model_dir / build.library_name(backend))
    write_engine(version, device)
