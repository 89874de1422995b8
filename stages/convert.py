"""Stage `convert`: checkpoint -> sparse submodel (TF SavedModel with size-sorted placement, and
HPS files) + dense submodel (TF SavedModel -> ONNX via tf2onnx, checked against TensorFlow).

    python -m stages.convert --model dlrm --checkpoint artifacts/train/dlrm --data artifacts/data \
        --out artifacts/convert/dlrm --report results/convert/dlrm.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from repro import atomic
from repro.families.criteo.checkpoint import read_checkpoint
from repro.cli import progress, run_stage
from repro.families.criteo.dataset import read_split
from repro.params import load_params
from repro.engines.placement import placement_report

CHECK_SAMPLES = 2048


def build(model: str, checkpoint: Path, data: Path, out: Path, report_path: Path, params_path: Path) -> None:
    params = load_params(params_path)
    cfg = params["convert"]
    from repro.families.criteo import export, training
    training.configure_determinism(params["seed"], params["train"]["threads"])
    ckpt = read_checkpoint(checkpoint)
    if ckpt.model != model:
        raise ValueError(f"{checkpoint}/dense/config.json says model '{ckpt.model}', expected '{model}'")
    placement = placement_report(ckpt.cardinalities, ckpt.dim, 2 if cfg["precision"] == "fp16" else 4,
                                 cfg["memory_threshold_gb"])
    test = read_split(data, "test").batch(0, CHECK_SAMPLES)
    numerical = test.numerical.astype(np.float32)
    lookups = np.stack([t[test.categorical[:, i]] for i, t in enumerate(ckpt.tables)], axis=1)
    with atomic.replace_dir(out) as staging:
        progress("convert", f"{model}: sparse SavedModel ({len(placement['cpu_tables'])} of {len(ckpt.tables)} "
                            f"tables past the {cfg['memory_threshold_gb']} GB GPU budget stay on CPU)")
        export.save_sparse(ckpt, [t["device"] for t in placement["tables"]], staging / "sparse_savedmodel")
        (staging / "placement.json").write_text(json.dumps(placement, indent=2) + "\n")
        progress("convert", f"{model}: HPS files (fused table, per-feature key offsets)")
        export.write_hps_files(ckpt.tables, staging / "hps")
        progress("convert", f"{model}: dense SavedModel -> ONNX (opset {cfg['onnx_opset']}) via tf2onnx")
        module = export.save_dense(ckpt, staging / "dense_savedmodel")
        export.export_onnx(module, staging / "dense.onnx", cfg["onnx_opset"])
        diff = export.onnx_max_abs_diff(module, staging / "dense.onnx", numerical, lookups)
        progress("convert", f"{model}: ONNX Runtime vs TensorFlow max abs diff {diff:.3g} "
                            f"(gate {cfg['onnx_max_abs_diff']:g})")
        if diff > cfg["onnx_max_abs_diff"]:
            raise ValueError(f"ONNX dense submodel differs from TensorFlow by {diff:.3g} > "
                             f"convert.onnx_max_abs_diff={cfg['onnx_max_abs_diff']:g}; nothing was written")
    report = {"model": model, "onnx_vs_tf_max_abs_diff": diff, "onnx_check_samples": CHECK_SAMPLES,
              "onnx_opset": cfg["onnx_opset"], "gpu_tables": len(ckpt.tables) - len(placement["cpu_tables"]),
              "cpu_tables": placement["cpu_tables"], "table_bytes": placement["gpu_bytes"] + placement["cpu_bytes"]}
    atomic.write_text(report_path, json.dumps(report, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--checkpoint", "--data", "--out", "--report"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--model", required=True, choices=["dlrm", "dcnv2"])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("convert", lambda: build(a.model, a.checkpoint, a.data, a.out, a.report, a.params))


if __name__ == "__main__":
    sys.exit(main())
