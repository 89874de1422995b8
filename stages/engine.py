"""Stage `engine`: build the model's TensorRT engine with its family's `trtexec` command where
TensorRT and a GPU exist; elsewhere record why it was skipped and the exact command. Never writes a
fake engine.

    python -m stages.engine --model dlrm --converted artifacts/convert/dlrm --out artifacts/engine/dlrm
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
from repro.families import family_of
from repro.params import load_params


def skip_reason() -> str | None:
    if shutil.which("trtexec") is None:
        return "TensorRT (trtexec) is not installed on this machine; it exists only in the pinned NGC containers"
    if shutil.which("nvidia-smi") is None or subprocess.run(["nvidia-smi"], capture_output=True).returncode != 0:
        return "no NVIDIA GPU is visible (nvidia-smi failed)"
    return None


def build(model: str, converted: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    family = family_of(params, model)
    cmd = family.engine_command(model, converted, out / "model.plan", params)
    reason = skip_reason()
    with atomic.replace_dir(out) as staging:
        if reason:
            progress("engine", f"{model}: SKIPPED: {reason}")
            (staging / "SKIPPED.json").write_text(json.dumps({"model": model, "skipped": True, "reason": reason,
                                                              "command": cmd}, indent=2) + "\n")
            return
        progress("engine", f"{model}: {' '.join(cmd)}")
        subprocess.run(family.engine_command(model, converted, staging / "model.plan", params), check=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model of params.yaml 'models'")
    parser.add_argument("--converted", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("engine", lambda: build(a.model, a.converted, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
