"""Build a native backend of this folder into ``libtriton_<backend>.so`` with the machine's C++ compiler.

The library is placed in the model's folder of a repository, where Triton looks for a model's backend
before its global backend directory, so no file of the runtime is touched. The TRITON* symbols stay
undefined and resolve against the server that loads it.

- ``repro_transport``: no dependencies (the transport ceiling).
- ``repro_torch``: links the libtorch of the Python environment's PyTorch (its headers, libraries and
  C++ ABI), found at build time; ``cuda=True`` adds the CUDA path, linked against the CUDA runtime that
  PyTorch itself loads (its tensors, streams and graphs live in that runtime, so the backend does not
  link the Triton bundle's cudart 12: one runtime per object, no handles crossing between two).
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

from repro.errors import UserError
from repro.serving.model_config import Tensor, base_config, add_instances, mc

HERE = Path(__file__).resolve().parent
BACKENDS = {"repro_transport": (HERE / "transport_backend.cc",),   # backend name -> its source files
            "repro_torch": (HERE / "torch_backend.cc", HERE / "triton_ops.cc")}   # (the engine's kernels: cuda)
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror",
         "-Wl,-z,nodelete")   # never unmapped: operators a library registered with libtorch outlive its models


def _first(candidates: list[Path], what: str) -> Path:
    for c in candidates:
        if c.exists():
            return c
    raise UserError(f"building repro_torch for CUDA needs {what}; looked in: {', '.join(map(str, candidates))}")


def torch_flags(cuda: bool) -> list[str]:
    """Compiler and linker flags for libtorch of the running Python's PyTorch (and its CUDA runtime)."""
    try:
        import torch
    except ImportError as e:
        raise UserError("the repro_torch backend links libtorch: install PyTorch (make setup)") from e
    root = Path(torch.__file__).resolve().parent
    lib = root / "lib"
    flags = [f"-D_GLIBCXX_USE_CXX11_ABI={int(torch._C._GLIBCXX_USE_CXX11_ABI)}", "-isystem", str(root / "include"),
             "-isystem", str(root / "include" / "torch" / "csrc" / "api" / "include")]
    libs = [f"-L{lib}", f"-Wl,-rpath,{lib}"]
    if cuda:
        if torch.version.cuda is None:
            raise UserError(f"PyTorch {torch.__version__} is a CPU build: the CUDA path of repro_torch needs a CUDA build")
        wheels = root.parent / "nvidia"
        major = torch.version.cuda.split(".")[0]
        homes = [Path(h) for h in (os.environ.get("CUDA_HOME"), os.environ.get("CUDA_PATH"), "/usr/local/cuda") if h]
        # libtorch's CUDA headers include cuda_runtime.h, which needs the toolkit's crt/ headers (the wheels lack them)
        include = _first([d / "crt" / "host_config.h" for d in (*(h / "include" for h in homes),
                                                                wheels / f"cu{major}" / "include")],
                         "the CUDA toolkit's headers (cuda_runtime.h, crt/host_config.h): set CUDA_HOME").parent.parent
        cudart = _first([wheels / f"cu{major}" / "lib" / f"libcudart.so.{major}",
                         wheels / "cuda_runtime" / "lib" / f"libcudart.so.{major}",
                         *(h / "lib64" / f"libcudart.so.{major}" for h in homes),
                         *(h / "lib64" / "libcudart.so" for h in homes)], f"PyTorch's CUDA runtime (libcudart.so.{major})")
        flags += ["-DREPRO_WITH_CUDA", "-isystem", str(include)]
        libs += [f"-L{cudart.parent}", f"-Wl,-rpath,{cudart.parent}", "-Wl,--no-as-needed", "-ltorch_cuda",
                 "-lc10_cuda", "-Wl,--as-needed", f"-l:{cudart.name}"]
    return flags + ["@LIBS@"] + libs + ["-ltorch", "-ltorch_cpu", "-lc10"]


def library_name(backend: str) -> str:
    return f"libtriton_{backend}.so"


def compile_command(backend: str, out: Path, compiler: str = "g++", cuda: bool = False) -> list[str]:
    if backend not in BACKENDS:
        raise UserError(f"no native backend named {backend!r}; choose one of {', '.join(sorted(BACKENDS))}")
    if backend != "repro_torch":
        return [compiler, *FLAGS, f"-I{HERE}", "-o", str(out), *map(str, BACKENDS[backend])]
    flags = torch_flags(cuda)
    cut = flags.index("@LIBS@")
    return [compiler, *FLAGS, f"-I{HERE}", *flags[:cut], "-o", str(out), *map(str, BACKENDS[backend]),
            *flags[cut + 1:]]


def build_key(backend: str, cuda: bool = False, compiler: str = "g++") -> str:
    """What a compiled library depends on: its compile line and the sources it reads (hex digest)."""
    digest = hashlib.sha256("\0".join(compile_command(backend, Path("out"), compiler, cuda)).encode())
    for source in sorted(HERE.glob("*.h")) + list(BACKENDS[backend]):
        digest.update(source.read_bytes())
    return f"{backend}-{'cuda' if cuda else 'cpu'}-{digest.hexdigest()[:16]}"


def build(backend: str, dest_dir: Path, cuda: bool = False) -> Path:
    """Compile ``backend`` into ``dest_dir/libtriton_<backend>.so`` (written whole, then renamed);
    repro_torch takes about half a minute (libtorch's headers)."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise UserError("no C++ compiler (g++) on PATH: install one (Debian: apt-get install g++) to build the "
                        f"native backend {backend}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / library_name(backend)
    staging = out.with_name(f".{out.name}.partial")
    done = subprocess.run(compile_command(backend, staging, compiler, cuda), capture_output=True, text=True)
    if done.returncode != 0:
        staging.unlink(missing_ok=True)
        raise UserError(f"building the native backend {backend} failed:\n{done.stderr.strip()[-2000:]}")
    staging.replace(out)
    return out


def model_config(name: str, backend: str, max_batch_size: int, inputs: list[Tensor], outputs: list[Tensor],
                 instances: int, kind: str) -> mc.ModelConfig:
    """A model served by one of these native backends (Triton's model_config protobuf)."""
    config = base_config(name, max_batch_size, inputs, outputs)
    config.backend = backend
    add_instances(config, instances, kind)
    return config
