"""Benchmark command for Wide & Deep on the cpu profile: which engine the python-cpu flavour should run
(TensorFlow's SavedModel or ONNX Runtime, in-process, same samples, same threads), and how close the
served model comes to its engine in-process at the largest offline batch (target: within 10%).

    python -m tools.widedeep_bench [--batches 1024 4096] [--repeats 15]

Reads artifacts/convert/widedeep/ and artifacts/data/outbrain/ (make deploy first); the served figure
comes from results/cpu/perf/. Prints figures; asserts nothing."""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from repro import paths
from repro.errors import UserError
from repro.families.outbrain import dataset
from repro.families.outbrain.features import INPUTS, OUTPUT
from repro.params import load_params


def engines(converted: Path, threads: int) -> dict:
    import onnxruntime as ort
    import tensorflow as tf
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    serve = tf.saved_model.load(str(converted / "savedmodel")).signatures["serving_default"]
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(str(converted / "model.onnx"), options, providers=["CPUExecutionProvider"])
    return {"tensorflow": lambda feeds: serve(**{k: tf.constant(v) for k, v in feeds.items()})[OUTPUT].numpy(),
            "onnxruntime": lambda feeds: session.run([OUTPUT], feeds)[0]}


def rates(run, feeds: dict, repeats: int) -> list[float]:
    """samples/s of ``repeats`` timed runs after two warm-ups."""
    n = len(next(iter(feeds.values())))
    run(feeds), run(feeds)
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        run(feeds)
        out.append(n / (time.perf_counter() - start))
    return out


def interval(values: list[float]) -> str:
    mean, sd = statistics.fmean(values), statistics.stdev(values)
    half = 1.96 * sd / len(values) ** 0.5
    return f"{mean:10,.0f} ± {half:,.0f} (95% CI, n={len(values)})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, nargs="+", default=None, help="default: the cpu W&D offline sweep")
    parser.add_argument("--repeats", type=int, default=15)
    a = parser.parse_args(argv)
    params = load_params()
    threads = params["train"]["threads"]
    perf = next(p for name, p in params["profiles"].items() if name == "cpu")
    sweep = {**perf["perf"], **perf["perf"].get("families", {}).get("outbrain", {})}
    batches = a.batches or [b for b in sweep["batch_sizes"] if b > 1]
    converted, data = paths.ROOT / "artifacts/convert/widedeep", paths.ROOT / "artifacts/data/outbrain"
    if not (converted / "model.onnx").exists():
        raise UserError(f"{converted}/model.onnx is missing: run `make deploy` first")
    valid = dataset.read_split(data, "valid")
    runs = engines(converted, threads)
    print(f"# Wide & Deep in-process on this CPU ({threads} threads), samples/s, {a.repeats} runs each")
    found: dict[int, dict[str, list[float]]] = {}
    for batch in batches:
        feeds = {k: np.ascontiguousarray(v) for k, v in valid.rows(0, batch).inputs.items()}
        found[batch] = {name: rates(run, feeds, a.repeats) for name, run in runs.items()}
        for name, values in found[batch].items():
            print(f"batch {batch:6d}  {name:12s} {interval(values)}")
    largest = max(batches)
    means = {name: statistics.fmean(v) for name, v in found[largest].items()}
    faster = max(means, key=means.get)
    print(f"\nFaster at batch {largest}: {faster} (x{means[faster] / min(means.values()):.2f}); "
          f"params.yaml profiles.cpu.serving.outbrain.engine: {perf['serving']['outbrain'].get('engine')}")
    engine = perf["serving"]["outbrain"].get("engine")
    served_csv = paths.ROOT / f"results/cpu/perf/widedeep_{engine}.csv"
    if served_csv.exists():
        served = pd.read_csv(served_csv).set_index("batch")
        if largest in served.index:
            ratio = served.loc[largest, "throughput_infer_per_s"] / means[engine]
            print(f"Served {engine} at batch {largest}: {served.loc[largest, 'throughput_infer_per_s']:,.0f} infer/s = "
                  f"{ratio:.0%} of the same engine in-process (target: at least 90%)")
    else:
        print(f"(no served figure yet: {served_csv} is missing)")
    print(json.dumps({str(b): {k: round(statistics.fmean(v), 1) for k, v in r.items()} for b, r in found.items()}))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UserError as exc:
        print(f"widedeep_bench: error: {exc}", file=sys.stderr)
        sys.exit(2)
