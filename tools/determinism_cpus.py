"""`make check-determinism-cpus`: the same data and DLRM checkpoint on two CPU feature sets.

Runs the `data` and `train` stages on the tiny preset twice: natively on this machine, and under
qemu-user emulating an AVX2-only host (Haswell: no AVX-512, no AMX), then compares the hashes of the
data and the checkpoint. Needs qemu-user (`apt-get install qemu-user`); the emulated run takes a few
minutes. Exit 0 identical, 1 different, 2 could not run.

    python -m tools.determinism_cpus [--cpu Haswell-v4] [--work .cache/determinism-cpus]
"""
from __future__ import annotations

import argparse
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from tabulate import tabulate

from repro import ONEDNN_ISA, paths


def tree_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def run(launcher: list[str], work: Path, params: Path) -> dict[str, str]:
    python = [*launcher, sys.executable]
    work.mkdir(parents=True, exist_ok=True)
    for cmd in (["-m", "stages.data", "--params", str(params), "--out", str(work / "data")],
                ["-m", "stages.train", "--params", str(params), "--model", "dlrm", "--data",
                 str(work / "data" / "criteo"), "--out", str(work / "train" / "dlrm"), "--metrics",
                 str(work / "dlrm.json")]):
        subprocess.run(python + cmd, check=True, cwd=paths.ROOT, stdout=subprocess.DEVNULL)
    return {"data": tree_hash(work / "data"), "checkpoint": tree_hash(work / "train" / "dlrm")}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu", default="Haswell-v4", help="qemu CPU model of the second host (AVX2, no AVX-512)")
    parser.add_argument("--work", type=Path, default=paths.ROOT / ".cache" / "determinism-cpus")
    a = parser.parse_args(argv)
    if shutil.which("qemu-x86_64") is None:
        print("check-determinism-cpus: qemu-x86_64 is not installed; `apt-get install qemu-user`", file=sys.stderr)
        return 2
    params = yaml.safe_load((paths.ROOT / "params.yaml").read_text())
    params["data"]["criteo"]["preset"] = "tiny"
    shutil.rmtree(a.work, ignore_errors=True)
    a.work.mkdir(parents=True)
    (a.work / "params.yaml").write_text(yaml.safe_dump(params))
    print(f"[determinism] native run, then under qemu -cpu {a.cpu} (oneDNN capped at {ONEDNN_ISA}) ...",
          file=sys.stderr, flush=True)
    native = run([], a.work / "native", a.work / "params.yaml")
    emulated = run(["qemu-x86_64", "-cpu", a.cpu], a.work / "emulated", a.work / "params.yaml")
    rows = [(name, native[name][:16], emulated[name][:16], "identical" if native[name] == emulated[name] else
             "DIFFERENT") for name in native]
    print(tabulate(rows, headers=["output (tiny preset)", "this CPU", f"emulated {a.cpu}", "verdict"],
                   tablefmt="github"))
    return 0 if all(r[3] == "identical" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
