"""The kit a GPU host without a package index needs for `make deploy-h100` (dist/h100/, under 64 MiB
with the checkout), and its unpacking there.

`build` (here, after `make deploy`): the runtime bundle for the host's Python; the client wheels
(tritonclient + grpcio + protobuf + python-rapidjson, pinned as in requirements.lock, for that
Python); the converted dense graphs (DLRM with its trained weights; DCNv2's graph without its 64 MB
of weights, which the host generates from the seed for performance runs); and the accuracy gate:
the small trained DLRM's tables restricted to the rows its first N test samples read (ids remapped,
lookups identical), those samples, and TensorFlow's AUC on them.

`unpack` (on the GPU host): the bundle into .h100/runtime, the wheels into .h100/site (no index).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np

from repro import paths

CARRY_LIMIT = 64 * 2**20
CLIENT_WHEELS = ("tritonclient", "grpcio", "protobuf", "python-rapidjson")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64")


def locked_version(package: str, lock: Path) -> str:
    for line in lock.read_text().splitlines():
        if line.lower().startswith(f"{package.lower()}=="):
            return line.split("==", 1)[1].strip()
    raise ValueError(f"{lock}: no pin for {package}; run `make lock`")


def download_wheels(dest: Path, python: str, lock: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    specs = [f"{p}=={locked_version(p, lock)}" for p in CLIENT_WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
           python, "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(dest), *specs]
    subprocess.run(cmd, check=True)
    return sorted(dest.glob("*.whl"))


def write_dense(onnx_path: Path, dest: Path, ship_weights: bool) -> None:
    """The converted dense graph; without weights, they go to an external file that is not kept."""
    import onnx
    dest.mkdir(parents=True, exist_ok=True)
    if ship_weights:
        shutil.copy(onnx_path, dest / "dense.onnx")
    else:
        model = onnx.load(str(onnx_path))
        onnx.save_model(model, str(dest / "dense.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="dense.weights.not-carried", size_threshold=1024)
        (dest / "dense.weights.not-carried").unlink()
    (dest / "weights.json").write_text(json.dumps({"shipped": ship_weights, "source": str(onnx_path.relative_to(
        paths.ROOT)) if onnx_path.is_relative_to(paths.ROOT) else str(onnx_path)}, indent=2) + "\n")


def compact_tables(tables: list[np.ndarray], categorical: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
    """Each table restricted to the rows ``categorical`` reads; ids remapped to the kept rows."""
    kept, remapped = [], np.empty_like(categorical)
    for i, table in enumerate(tables):
        rows, inverse = np.unique(categorical[:, i], return_inverse=True)
        kept.append(np.ascontiguousarray(table[rows]))
        remapped[:, i] = inverse.astype(categorical.dtype)
    return kept, remapped


def write_gate(ckpt_dir: Path, data_dir: Path, dest: Path, samples: int) -> dict:
    from repro.families.criteo.checkpoint import read_checkpoint
    from repro.families.criteo.dataset import read_split
    from repro.families.criteo.training import evaluate_auc
    ckpt, test = read_checkpoint(ckpt_dir), read_split(data_dir, "test")
    subset = test.batch(0, samples)
    auc = evaluate_auc(ckpt, subset)
    tables, ids = compact_tables(ckpt.tables, subset.categorical)
    dest.mkdir(parents=True, exist_ok=True)
    np.savez(dest / "tables.npz", **{f"table_{i}": t for i, t in enumerate(tables)})
    np.savez(dest / "samples.npz", categorical=ids, numerical=subset.numerical.astype(np.float32), label=subset.label)
    import tensorflow as tf
    reference = {"auc_tensorflow": round(auc, 6), "samples": len(subset), "tensorflow": tf.__version__,
                 "checkpoint": str(ckpt_dir.relative_to(paths.ROOT)) if ckpt_dir.is_relative_to(paths.ROOT) else str(ckpt_dir),
                 "rows_kept": int(sum(t.shape[0] for t in tables)),
                 "rows_trained": int(sum(t.shape[0] for t in ckpt.tables))}
    (dest / "reference.json").write_text(json.dumps(reference, indent=2) + "\n")
    return reference


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def build(out: Path, python: str, samples: int) -> dict:
    from repro.serving.runtime import write_bundle
    from repro.report.measured import git_commit
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    print(f"[h100-kit] runtime bundle for Python {python} ...", file=sys.stderr, flush=True)
    write_bundle(paths.WHEEL_CACHE, python, out / f"triton-runtime-py{python}.tar.xz")
    download_wheels(out / "wheels", python, paths.ROOT / "requirements.lock")
    write_dense(paths.ARTIFACTS / "convert" / "dlrm" / "dense.onnx", out / "models" / "dlrm", ship_weights=True)
    write_dense(paths.ARTIFACTS / "convert" / "dcnv2" / "dense.onnx", out / "models" / "dcnv2", ship_weights=False)
    print("[h100-kit] accuracy gate: TensorFlow AUC of the trained DLRM on its samples ...", file=sys.stderr, flush=True)
    reference = write_gate(paths.ARTIFACTS / "train" / "dlrm", paths.ARTIFACTS / "data" / "criteo", out / "gate", samples)
    files = {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256(p)}
             for p in sorted(out.rglob("*")) if p.is_file()}
    total = sum(f["bytes"] for f in files.values())
    manifest = {"python": python, "total_bytes": total, "source": git_commit(paths.ROOT), "gate": reference,
                "files": files}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    print(f"[h100-kit] {out}: {total / 2**20:.1f} MiB in {len(files)} files (carry limit with the checkout: "
          f"{CARRY_LIMIT / 2**20:.0f} MiB)", file=sys.stderr)
    if total > CARRY_LIMIT:
        raise SystemExit(f"h100-kit: {total / 2**20:.1f} MiB exceeds the {CARRY_LIMIT / 2**20:.0f} MiB carry limit")
    return manifest


def unpack(kit: Path, work: Path) -> None:
    """Idempotent: the runtime and the wheels are installed once per kit manifest."""
    manifest = kit / "manifest.json"
    if not manifest.exists():
        raise SystemExit(f"deploy-h100: {manifest} is missing. Build the kit with `make h100-kit` on a machine with "
                         "the full environment (after `make deploy`) and carry dist/h100/ to this host.")
    stamp = work / "UNPACKED.json"
    if stamp.exists() and stamp.read_text() == manifest.read_text():
        return
    shutil.rmtree(work / "runtime", ignore_errors=True)
    shutil.rmtree(work / "site", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    (bundle,) = kit.glob("triton-runtime-*.tar.xz")
    with tarfile.open(bundle) as tar:
        tar.extractall(work / "runtime", filter="tar")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(work / "site"),
                    *map(str, sorted((kit / "wheels").glob("*.whl")))], check=True)
    stamp.write_text(manifest.read_text())
    print(f"[deploy-h100] runtime and client wheels unpacked into {work}", file=sys.stderr)
