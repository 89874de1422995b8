"""Stage `train`: train one model with its family's framework and write its checkpoint in the
upstream layout, plus the framework's own score on the test split (the accuracy gate's reference).

    python -m stages.train --model dlrm --data artifacts/data/criteo --out artifacts/train/dlrm \
        --metrics results/train/dlrm.json
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


def build(model: str, data: Path, out: Path, metrics: Path, params_path: Path) -> None:
    params = load_params(params_path)
    result = family_of(params, model).train(model, data, params, out)
    atomic.write_text(metrics, json.dumps(result, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a model of params.yaml 'models'")
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    return run_stage("train", lambda: build(args.model, args.data, args.out, args.metrics, args.params))


if __name__ == "__main__":
    sys.exit(main())
