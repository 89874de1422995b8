"""Stage `engine`: build the TensorRT engine of the dense ONNX submodel where TensorRT and a GPU
exist (trtexec, min/opt/max batch 1 / trt_optimal / max); elsewhere record why it was skipped.
Never writes a fake engine.

    python -m stages.engine --model dlrm --onnx artifacts/convert/dlrm/dense.onnx --out artifacts/engine/dlrm
"""
from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.params import load_params

TRT_OPTIMAL_BATCH = 1024


def trtexec_command(onnx: Path, plan: Path, max_batch: int, fp16: bool, dim: int = 128) -> list[str]:
    shapes = {name: f"numerical_features:{{b}}x13,lookup_vectors:{{b}}x26x{dim}" for name in ("min", "opt", "max")}
    batches = {"min": 1, "opt": TRT_OPTIMAL_BATCH, "max": max_batch}
    cmd = ["trtexec", f"--onnx={onnx}", f"--saveEngine={plan}", "--buildOnly"]
    cmd += [f"--{k}Shapes={shapes[k].format(b=batches[k])}" for k in ("min", "opt", "max")]
    return cmd + (["--fp16"] if fp16 else [])


def skip_reason() -> str | None:
    if shutil.which("trtexec") is None:
        return "TensorRT (trtexec) is not installed on this machine; it exists only in the pinned NGC containers"
    if shutil.which("nvidia-smi") is None or subprocess.run(["nvidia-smi"], capture_output=True).returncode != 0:
        return "no NVIDIA GPU is visible (nvidia-smi failed)"
    return None


def build(model: str, onnx: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    cmd = trtexec_command(onnx, out / "model.plan", params["repos"]["max_batch_size"],
                          params["convert"]["precision"] == "fp16")
    reason = skip_reason()
    with atomic.replace_dir(out) as staging:
        if reason:
            progress("engine", f"{model}: SKIPPED: {reason}")
            (staging / "SKIPPED.json").write_text(json.dumps({"model": model, "skipped": True, "reason": reason,
                                                              "command": cmd}, indent=2) + "\n")
            return
        progress("engine", f"{model}: {' '.join(cmd)}")
        subprocess.run(trtexec_command(onnx, staging / "model.plan", params["repos"]["max_batch_size"],
                                       params["convert"]["precision"] == "fp16"), check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=["dlrm", "dcnv2"])
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("engine", lambda: build(a.model, a.onnx, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
