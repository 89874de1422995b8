"""Stage `train`: train one model (DLRM or DCNv2) and write a checkpoint in the upstream layout.

    python -m stages.train --model dlrm --data artifacts/data --out artifacts/train/dlrm \
        --metrics results/train/dlrm.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic
from repro.families.criteo.checkpoint import Checkpoint, write_checkpoint
from repro.cli import progress, run_stage
from repro.families.criteo.dataset import cardinalities, load_spec, read_split
from repro.params import load_params


def build(model: str, data: Path, out: Path, metrics: Path, params_path: Path) -> None:
    params = load_params(params_path)
    cfg = params["train"]
    from repro.families.criteo import models, training  # TensorFlow loads only when a stage needs it
    training.configure_determinism(params["seed"], cfg["threads"])
    spec = load_spec(data)
    train_split, test_split = read_split(data, "train", spec), read_split(data, "test", spec)
    cards = cardinalities(spec)
    init = Checkpoint(model, models.init_dense(model, len(cards), train_split.numerical.shape[1], 128, params["seed"]),
                      models.init_tables(cards, 128, params["seed"]))
    config = training.TrainConfig(cfg["epochs"], cfg["batch_size"], cfg["learning_rate"], params["seed"])
    progress("train", f"{model}: {len(train_split)} samples, {config.epochs} epoch(s), batch {config.batch_size}")
    trained, losses = training.train(model, init, train_split, config)
    auc = training.evaluate_auc(trained, test_split)
    progress("train", f"{model}: test AUC (TensorFlow) {auc:.5f}")
    with atomic.replace_dir(out) as staging:
        write_checkpoint(staging, trained)
    atomic.write_text(metrics, json.dumps({"model": model, "test_auc_tf": round(auc, 6),
                                           "final_loss": round(losses[-1], 6), "steps": len(losses)}, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=["dlrm", "dcnv2"])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--metrics", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    args = parser.parse_args(argv)
    return run_stage("train", lambda: build(args.model, args.data, args.out, args.metrics, args.params))


if __name__ == "__main__":
    sys.exit(main())
