"""Benchmark command for the h100 profile's dense engine: the converted ONNX dense submodel run by
PyTorch on the GPU (repro.engines.onnx_engine), checked against ONNX Runtime on the same inputs, then timed
per batch size with the whole forward captured in one CUDA graph. Dense part only, no server: the
label says so.

    python -m tools.dense_bench --onnx artifacts/convert/dlrm/dense.onnx --batches 256 4096 65536
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from repro.engines.onnx_engine import Engine, TorchBackend, load_graph, optimize

CHECK_SAMPLES = 1024


def inputs(rng: np.random.Generator, batch: int) -> dict[str, np.ndarray]:
    return {"numerical_features": rng.random((batch, 13), dtype=np.float32) * 4,
            "lookup_vectors": (rng.random((batch, 26, 128), dtype=np.float32) - 0.5) * 0.1}


def check_against_ort(onnx_path: Path, engine: Engine, torch) -> float:
    import onnxruntime as ort
    feeds = inputs(np.random.default_rng(0), CHECK_SAMPLES)
    want = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = engine(**{k: engine.backend.tensor(v) for k, v in feeds.items()})[0].float().cpu().numpy()
    return float(np.abs(got - want).max())


def time_graph(engine: Engine, torch, batch: int, iters: int) -> float:
    """Milliseconds per batch of the forward replayed from one CUDA graph."""
    static = {k: engine.backend.tensor(v) for k, v in inputs(np.random.default_rng(1), batch).items()}
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        for _ in range(3):
            engine(**static)
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        engine(**static)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    graph.replay()
    start.record()
    for _ in range(iters):
        graph.replay()
    end.record()
    torch.cuda.synchronize()
    return start.elapsed_time(end) / iters


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--onnx", type=Path, required=True)
    parser.add_argument("--batches", type=int, nargs="+", default=[256, 1024, 4096, 16384, 65536])
    parser.add_argument("--precisions", nargs="+", default=["float32", "float16"])
    parser.add_argument("--iters", type=int, default=50)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    import torch
    if not torch.cuda.is_available():
        print("dense_bench: no CUDA device visible; this benchmark needs a GPU (h100 profile).", file=sys.stderr)
        return 2
    from tabulate import tabulate
    graph, gpu = load_graph(args.onnx), torch.cuda.get_device_name(0)
    scope = ("dense submodel only (no server, no embedding lookup), PyTorch engine from the ONNX graph, "
             "one CUDA graph per batch size")
    rows, report = [], {"scope": scope, "engine": f"PyTorch {torch.__version__} CUDA (not TensorRT)", "gpu": gpu,
                        "onnx": str(args.onnx),
                        "command": "python -m tools.dense_bench " + " ".join(sys.argv[1:] if argv is None else argv),
                        "results": []}
    for precision in args.precisions:
        engine = Engine(optimize(graph), TorchBackend(precision))
        diff = check_against_ort(args.onnx, engine, torch)
        for batch in args.batches:
            ms = time_graph(engine, torch, batch, args.iters)
            result = {"precision": precision, "batch": batch, "ms_per_batch": round(ms, 4),
                      "infer_per_s": round(batch / ms * 1e3), "max_abs_diff_vs_onnxruntime": diff}
            report["results"].append(result)
            rows.append([precision, batch, f"{ms:.3f}", f"{batch / ms * 1e3:,.0f}", f"{diff:.2e}"])
    print(f"{scope}: PyTorch {torch.__version__} on {gpu}, {args.iters} replays\n")
    print(tabulate(rows, headers=["precision", "batch", "ms/batch", "infer/s", "max |diff| vs ORT"], tablefmt="github"))
    if args.out:
        args.out.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
