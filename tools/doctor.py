"""`make doctor`: report what the local runtime can do here and fail, naming the part, when broken."""
from __future__ import annotations

import importlib
import importlib.metadata
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from repro import paths
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def package_version(module: str, distribution: str) -> Callable[[], str]:
    """Import the module (so a broken install shows) and report its distribution's version."""
    def probe() -> str:
        importlib.import_module(module)
        return importlib.metadata.version(distribution)
    return probe


def dvc_version() -> str:
    out = subprocess.run([sys.executable, "-m", "dvc", "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def perf_analyzer_version(runtime: Runtime) -> str:
    runtime.check()
    out = subprocess.run([str(runtime.perf_analyzer), "--version"], capture_output=True, text=True,
                         env=runtime.env(), timeout=60)
    line = (out.stdout + out.stderr).strip().splitlines()[0]
    if "Version" not in line:
        raise RuntimeError(f"unexpected output: {line}")
    return line


def triton_server_version(runtime: Runtime) -> str:
    """Start the real server on 127.0.0.1 with an empty repository, read its metadata, stop it."""
    with tempfile.TemporaryDirectory(prefix="doctor-") as tmp:
        repo = Path(tmp) / "models"
        repo.mkdir()
        with TritonServer(runtime, repo, Path(tmp) / "server.log", ready_timeout_s=60) as server:
            meta = server.metadata()
    return f"{meta['name']} {meta['version']} (started on 127.0.0.1 and stopped)"


def gpu_presence() -> str:
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True)
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip().replace("\n", "; ")
    return "none (cpu profile)"


def run_check(name: str, probe: Callable[[], str]) -> Check:
    try:
        return Check(name, True, probe())
    except Exception as exc:  # noqa: BLE001 -- doctor reports every failure, it never hides one
        return Check(name, False, f"{type(exc).__name__}: {exc}".splitlines()[0])


def run_checks(runtime: Runtime) -> list[Check]:
    probes: list[tuple[str, Callable[[], str]]] = [
        ("python", lambda: sys.version.split()[0]),
        ("tensorflow", package_version("tensorflow", "tensorflow-cpu")),
        ("tf2onnx", package_version("tf2onnx", "tf2onnx")),
        ("onnx", package_version("onnx", "onnx")),
        ("onnxruntime", package_version("onnxruntime", "onnxruntime")),
        ("numpy", package_version("numpy", "numpy")),
        ("pandas", package_version("pandas", "pandas")),
        ("tritonclient", package_version("tritonclient", "tritonclient")),
        ("dvc", dvc_version),
        ("perf_analyzer", lambda: perf_analyzer_version(runtime)),
        ("triton server", lambda: triton_server_version(runtime)),
        ("gpu", gpu_presence),
    ]
    return [run_check(name, probe) for name, probe in probes]


def main() -> int:
    checks = run_checks(Runtime(paths.RUNTIME))
    width = max(len(c.name) for c in checks)
    for check in checks:
        print(f"{'ok ' if check.ok else 'BAD'}  {check.name:<{width}}  {check.detail}")
    broken = [c.name for c in checks if not c.ok]
    if broken:
        print(f"\ndoctor: broken: {', '.join(broken)}. Run `make setup`; if it persists, see README.md "
              "'Troubleshooting'.", file=sys.stderr)
        return 1
    print("\ndoctor: all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
