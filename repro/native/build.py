"""Build a native backend of this folder into ``libtriton_<backend>.so`` with the machine's C++ compiler.

The library is placed in the model's folder of a repository, where Triton looks for a model's backend
before its global backend directory, so no file of the runtime is touched. The TRITON* symbols stay
undefined and resolve against the server that loads it.
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from repro.errors import UserError
from repro.serving.model_config import Tensor, base_config, add_instances, mc

HERE = Path(__file__).resolve().parent
BACKENDS = {"repro_transport": HERE / "transport_backend.cc"}   # backend name -> its one source file
FLAGS = ("-O2", "-std=c++17", "-shared", "-fPIC", "-fvisibility=hidden", "-Wall", "-Wextra", "-Werror")


def library_name(backend: str) -> str:
    return f"libtriton_{backend}.so"


def compile_command(backend: str, out: Path, compiler: str = "g++") -> list[str]:
    if backend not in BACKENDS:
        raise UserError(f"no native backend named {backend!r}; choose one of {', '.join(sorted(BACKENDS))}")
    return [compiler, *FLAGS, f"-I{HERE}", "-o", str(out), str(BACKENDS[backend])]


def build(backend: str, dest_dir: Path) -> Path:
    """Compile ``backend`` into ``dest_dir/libtriton_<backend>.so`` (written whole, then renamed)."""
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        raise UserError("no C++ compiler (g++) on PATH: install one (Debian: apt-get install g++) to build the "
                        f"native backend {backend}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    out = dest_dir / library_name(backend)
    staging = out.with_name(f".{out.name}.partial")
    done = subprocess.run(compile_command(backend, staging, compiler), capture_output=True, text=True)
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
