"""Stage `convert`: a checkpoint -> the model's served formats (for the Criteo family: sparse TF
SavedModel with size-sorted placement, HPS files, dense SavedModel -> ONNX), each checked against the
framework; a failed or NaN check writes nothing and exits non-zero.

    python -m stages.convert --model dlrm --checkpoint artifacts/train/dlrm --data artifacts/data/criteo \
        --out artifacts/convert/dlrm --report results/convert/dlrm.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic
from repro.cli import run_stage
from repro.families import family_of
from repro.params import load_params


def build(model: str, checkpoint: Path, data: Path, out: Path, report_path: Path, params_path: Path) -> None:
    params = load_params(params_path)
    report = family_of(params, model).convert(model, checkpoint, data, params, out)
    atomic.write_text(report_path, json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--checkpoint", "--data", "--out", "--report"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--model", required=True, help="a model of params.yaml 'models'")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("convert", lambda: build(a.model, a.checkpoint, a.data, a.out, a.report, a.params))


if __name__ == "__main__":
    sys.exit(main())
