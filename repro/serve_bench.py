"""Benchmark command for the h100 profile (work in progress towards `make deploy-h100`): the whole
model in one python-backend model on the GPU (repro/triton_models/fused_torch.py: fused embedding
table generated from the seed on the host + the converted ONNX dense part run by PyTorch with CUDA
graphs), served by the real Triton server from the runtime bundle and measured by the real
perf_analyzer, offline (concurrency 1, system shared memory). Prints the table in the published look.

    REPRO_RUNTIME=/path/to/runtime python -m repro.serve_bench --onnx artifacts/convert/dlrm/dense.onnx \
        --preset 4B --precision fp16 --batches 256 4096 65536 --out results/h100/serve
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np

from repro import model_config as mcfg
from repro import paths
from repro.criteo import Split
from repro.perf import PerfSettings, measure, measured_frame, normalise, write_input_data
from repro.presets import get_preset
from repro.runtime import TRITON_VERSION, Runtime
from repro.server import TritonServer
from repro.synthetic import power_law_categories
from repro.tables import DLRM_COLUMNS, render_markdown

MODEL = "dlrm_fused_torch"


def write_repository(repo: Path, onnx: Path, preset: str, precision: str, seed: int, max_batch: int) -> None:
    model_dir = repo / MODEL
    config = mcfg.python_model(MODEL, max_batch, [mcfg.CATEGORICAL, mcfg.NUMERICAL], [mcfg.OUTPUT], 1, "KIND_GPU",
                               {"FORCE_CPU_ONLY_INPUT_TENSORS": "yes"})
    (model_dir / "1").mkdir(parents=True)
    (model_dir / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    shutil.copy(paths.ROOT / "repro" / "triton_models" / "fused_torch.py", model_dir / "1" / "model.py")
    shutil.copy(paths.ROOT / "repro" / "onnx_engine.py", model_dir / "1" / "onnx_engine.py")
    shutil.copy(onnx, model_dir / "1" / "dense.onnx")
    spec = {"cardinalities": list(get_preset(preset).cardinalities), "embedding_dim": 128, "precision": precision,
            "seed": seed}
    (model_dir / "1" / "spec.json").write_text(json.dumps(spec) + "\n")


def write_bench_input_data(path: Path, preset: str, seed: int, samples: int = 1024) -> None:
    """Power-law category ids over the preset's real cardinalities (the skew caches rely on)."""
    rng = np.random.default_rng(seed)
    ids = np.stack([power_law_categories(rng, c, samples) for c in get_preset(preset).cardinalities], axis=1)
    num = np.log1p(rng.lognormal(1.0, 1.2, size=(samples, 13))).astype(np.float32)
    write_input_data(Split(num, ids, np.zeros(samples, dtype=bool)), path, samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--preset", default="4B")
    parser.add_argument("--precision", choices=["fp16", "fp32"], default="fp16")
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096, 16384, 65536])
    parser.add_argument("--seed", type=int, default=20261122)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    import torch
    gpu = torch.cuda.get_device_name(0)
    args.out.mkdir(parents=True, exist_ok=True)
    repo = args.out / "repository"
    shutil.rmtree(repo, ignore_errors=True)
    write_repository(repo, args.onnx, args.preset, args.precision, args.seed, max(args.batches))
    write_bench_input_data(args.out / "input_data.json", args.preset, args.seed)
    labels = {"engine": f"whole model in PyTorch {torch.__version__} CUDA (fused embedding + ONNX dense, CUDA graphs; "
                        "python backend; not TensorRT)", "precision": args.precision.upper(), "device": gpu,
              "runtime": f"Triton {TRITON_VERSION} (local runtime bundle)", "versions": f"torch {torch.__version__}"}
    settings = PerfSettings(1, 2000, 10, 10, 2)
    rows = []
    with TritonServer(Runtime(paths.RUNTIME), repo.resolve(), args.out / "server.log", models=[MODEL],
                      ready_timeout_s=900) as server:
        for batch in args.batches:
            m = measure(server.runtime, MODEL, server.ports.grpc_url, batch, args.out / "raw", args.out / "input_data.json",
                        settings)
            rows.append({**normalise(m), **labels})
            print(f"[serve_bench] batch {batch}: {rows[-1]['Inferences/Second']:,.0f} infer/s, "
                  f"p99 {rows[-1]['p99 latency']:.0f} us{'' if m.stable else ' (unstable)'}", flush=True)
    frame = measured_frame(rows)
    frame.to_csv(args.out / f"{MODEL}_{args.preset}_{args.precision}.csv", index=False)
    print(f"\n#### Offline: DLRM {args.preset} on {gpu}, {labels['engine']}, {labels['precision']}\n")
    print(render_markdown(frame[DLRM_COLUMNS], "dlrm"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
