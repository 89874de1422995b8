"""The local Triton runtime: a real Triton 2.51 server and perf_analyzer taken from PyPI wheels.

Only FILES are taken from the two wheels (never their Python dependency pins, which clash with
the project environment): the server, its libraries and the python backend from
``nvidia-pytriton``, the perf_analyzer binary from ``tritonclient`` 2.51.0's manylinux1 wheel.
See ../shared/notes/local-runtime.md for why each piece is needed.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

TRITON_VERSION = "2.51.0"


@dataclass(frozen=True)
class WheelPin:
    """One wheel whose files (not its package) the runtime is built from."""

    requirement: str
    filename: str
    sha256: str
    platform: str
    members: tuple[str, ...]  # path prefixes extracted from the wheel


SERVER_WHEEL = WheelPin(
    requirement="nvidia-pytriton==0.7.0",
    filename="nvidia_pytriton-0.7.0-py3-none-manylinux_2_35_x86_64.whl",
    sha256="21f063ff93bb426d0c06b7a55e7eb9efcfe62c0dddd9a908e9877e18710128df",
    platform="manylinux_2_35_x86_64",
    members=("pytriton/tritonserver/", "nvidia_pytriton.libs/"),
)
PERF_ANALYZER_WHEEL = WheelPin(
    requirement="tritonclient==2.51.0",
    filename="tritonclient-2.51.0-py3-none-manylinux1_x86_64.whl",
    sha256="c485bb0123bdf310f90bc8b03d3489b28df2ffed55b30c7eee0b795b48113d52",
    platform="manylinux1_x86_64",
    members=("tritonclient-2.51.0.data/data/bin/perf_analyzer",),
)
# Sonames perf_analyzer asks for, satisfied by the copies bundled in the server wheel.
LIBRARY_ALIASES = {"libcudart.so.12": "libcudart-", "libb64.so.0d": "libb64-"}


class RuntimeSetupError(RuntimeError):
    """The local runtime is missing or broken; the message says how to fix it."""


@dataclass(frozen=True)
class Runtime:
    """An unpacked runtime directory (made by ``make setup`` or unpacked from a bundle)."""

    root: Path

    @property
    def server(self) -> Path:
        return self.root / "pytriton" / "tritonserver" / "bin" / "tritonserver"

    @property
    def lib_dir(self) -> Path:
        return self.root / "nvidia_pytriton.libs"

    @property
    def backend_dir(self) -> Path:
        return self.root / "backends"

    @property
    def perf_analyzer(self) -> Path:
        return self.root / "bin" / "perf_analyzer"

    def perf_analyzer_argv(self) -> list[str]:
        """How a perf_analyzer command starts on this runtime (a container runtime prefixes its engine)."""
        return [str(self.perf_analyzer)]

    @property
    def manifest(self) -> Path:
        return self.root / "RUNTIME.json"

    def check(self) -> None:
        """Raise with a fix-it message when a required file is missing."""
        required = [self.server, self.perf_analyzer, self.backend_dir / "python" / "libtriton_python.so",
                    self.backend_dir / "python" / "triton_python_backend_stub", self.manifest]
        missing = [str(p) for p in required if not p.exists()]
        if missing:
            raise RuntimeSetupError(f"Triton runtime at {self.root} is incomplete (missing: {', '.join(missing)}); "
                                "run `make setup` (or unpack the runtime bundle there).")

    def env(self, python_bin_dir: Path | None = None, base: dict[str, str] | None = None) -> dict[str, str]:
        """Environment for the server and perf_analyzer: bundled libraries first on the library
        path, and the Python environment's bin/ first on PATH (the backend stub finds its
        packages through the ``python3`` on PATH)."""
        env = dict(os.environ if base is None else base)
        bin_dir = python_bin_dir or Path(sys.executable).parent
        env["PATH"] = os.pathsep.join([str(bin_dir), env.get("PATH", "")])
        env["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [*python_lib_dirs(), str(self.lib_dir),
                                                                env.get("LD_LIBRARY_PATH")]))
        env["PYTHONDONTWRITEBYTECODE"] = "1"  # model.py runs from the repository: keep the DVC output unchanged
        return env

    def versions(self) -> dict[str, str]:
        return json.loads(self.manifest.read_text())


def python_lib_dirs() -> list[str]:
    """The running interpreter's own libpython directory, so the backend stub links the same
    Python build as the environment (not another build of the same version found system-wide)."""
    libdir = sysconfig.get_config_var("LIBDIR")
    soname = f"libpython{sys.version_info.major}.{sys.version_info.minor}.so.1.0"
    return [libdir] if libdir and (Path(libdir) / soname).exists() else []


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_wheel(pin: WheelPin, cache: Path) -> Path:
    """Download one pinned wheel (no dependencies) into the cache and verify its hash."""
    target = cache / pin.filename
    if not target.exists():
        cache.mkdir(parents=True, exist_ok=True)
        print(f"[setup] downloading {pin.requirement} ({pin.platform}) ...", flush=True)
        proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                               "--only-binary=:all:", "--platform", pin.platform, "-d", str(cache), pin.requirement],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            detail = [line for line in proc.stderr.splitlines() if "is ignored: it is neither" not in line][-3:]
            raise RuntimeSetupError(f"could not download {pin.requirement} ({pin.platform}) from the package index "
                                    f"(pip exit {proc.returncode}): " + " | ".join(detail))
    actual = sha256_of(target)
    if actual != pin.sha256:
        target.unlink()
        raise RuntimeSetupError(f"{target}: sha256 {actual} does not match the pinned {pin.sha256}; "
                            "the download was removed, run `make setup` again.")
    return target


def extract_members(wheel: Path, prefixes: tuple[str, ...], dest: Path) -> None:
    """Extract the files under ``prefixes`` keeping their relative layout and exec bits (the
    server's RPATH points at ../../../nvidia_pytriton.libs, so the layout must stay)."""
    with zipfile.ZipFile(wheel) as zf:
        for info in zf.infolist():
            if info.is_dir() or not info.filename.startswith(prefixes):
                continue
            out = dest / info.filename
            out.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, out.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            mode = (info.external_attr >> 16) & 0o777
            out.chmod(mode or 0o644)


def assemble(staging: Path, python_version: str, keep_libpython: bool) -> None:
    """Arrange extracted files into a runtime: backend dir with the stub for ``python_version``,
    perf_analyzer in bin/, soname links for perf_analyzer's libraries."""
    triton = staging / "pytriton" / "tritonserver"
    stub = triton / "python_backend_stubs" / python_version / "triton_python_backend_stub"
    if not stub.exists():
        raise RuntimeSetupError(f"no python backend stub for Python {python_version} in {SERVER_WHEEL.requirement}; "
                            "available: " + ", ".join(sorted(p.name for p in stub.parent.parent.iterdir())))
    python_backend = staging / "backends" / "python"
    python_backend.mkdir(parents=True)
    for name in ("libtriton_python.so", "triton_python_backend_utils.py"):
        shutil.copy2(triton / "backends" / "python" / name, python_backend / name)
    shutil.copy2(stub, python_backend / "triton_python_backend_stub")
    shutil.rmtree(triton / "python_backend_stubs")
    (staging / "bin").mkdir()
    shutil.move(str(staging / "tritonclient-2.51.0.data" / "data" / "bin" / "perf_analyzer"), staging / "bin")
    shutil.rmtree(staging / "tritonclient-2.51.0.data")
    libs = staging / "nvidia_pytriton.libs"
    for soname, prefix in LIBRARY_ALIASES.items():
        (libs / soname).symlink_to(next(p.name for p in libs.iterdir() if p.name.startswith(prefix)))
    if not keep_libpython:  # the stub links the host's own libpython
        for lib in libs.glob("libpython3*"):
            lib.unlink()


def install_runtime(dest: Path, cache: Path, python_version: str, keep_libpython: bool = True) -> Runtime:
    """Build the runtime at ``dest`` atomically (staged next to it, then renamed)."""
    wheels = [fetch_wheel(pin, cache) for pin in (SERVER_WHEEL, PERF_ANALYZER_WHEEL)]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".runtime-", dir=dest.parent))
    try:
        for wheel, pin in zip(wheels, (SERVER_WHEEL, PERF_ANALYZER_WHEEL)):
            extract_members(wheel, pin.members, staging)
        assemble(staging, python_version, keep_libpython)
        manifest = {"triton_server": TRITON_VERSION, "perf_analyzer": TRITON_VERSION, "python_stub": python_version,
                    "wheels": {p.requirement: p.sha256 for p in (SERVER_WHEEL, PERF_ANALYZER_WHEEL)}}
        (staging / "RUNTIME.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        staging.chmod(0o755)
        if dest.exists():
            shutil.rmtree(dest)
        staging.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Runtime(dest)


def reproducible(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
    return info


def write_bundle(cache: Path, python_version: str, out: Path) -> Path:
    """One tar.xz holding a runtime for a host with its own Python ``python_version`` (the stub links
    the host's libpython, so the bundled one is left out). Byte-identical for the same inputs."""
    with tempfile.TemporaryDirectory(prefix="bundle-") as tmp:
        runtime = install_runtime(Path(tmp) / "runtime", cache, python_version, keep_libpython=False)
        out.parent.mkdir(parents=True, exist_ok=True)
        partial = out.with_name(out.name + ".partial")
        with tarfile.open(partial, "w:xz", preset=9) as tar:
            for path in sorted(runtime.root.rglob("*")):
                tar.add(path, arcname=str(Path("runtime") / path.relative_to(runtime.root)), recursive=False,
                        filter=reproducible)
        partial.replace(out)
    return out
