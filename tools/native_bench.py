"""`make bench-native`: the transport ceiling through the real Triton server, this project's native C++
backend (repro/native, built here) beside a python-backend model doing the same (inputs taken, [batch, 1]
zeros returned), measured by perf_analyzer with upstream's protocol (gRPC, concurrency 1, system shared
memory, DLRM-shaped random inputs). Prints the figures; nothing is written to results/.

    python -m tools.native_bench [--batches 256,4096,65536] [--interval-ms 2000]
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

from repro import paths
from repro.cli import KNOWN_ERRORS
from repro.measure.host import fingerprint, summary
from repro.measure.perf_analyzer import PerfSettings, measure, normalise
from repro.measure.statistics import evidence
from repro.native import build
from repro.serving.model_config import CATEGORICAL, NUMERICAL, OUTPUT, python_model, to_pbtxt
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer

MODELS = {"transport_native": "native C++ backend (repro_transport)",
          "transport_python": "python backend (numpy)"}


def write_repository(root: Path, max_batch: int) -> None:
    io = ([CATEGORICAL, NUMERICAL], [OUTPUT])
    native = root / "transport_native"
    (native / "1").mkdir(parents=True)
    build.build("repro_transport", native)
    (native / "config.pbtxt").write_text(to_pbtxt(build.model_config("transport_native", "repro_transport", max_batch,
                                                                      *io, instances=1, kind="KIND_CPU")))
    python = root / "transport_python"
    (python / "1").mkdir(parents=True)
    shutil.copy(Path(build.HERE) / "transport_python.py", python / "1" / "model.py")
    (python / "config.pbtxt").write_text(to_pbtxt(python_model("transport_python", max_batch, *io, instances=1,
                                                               kind="KIND_CPU", parameters={})))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", default="256,4096,65536")
    parser.add_argument("--interval-ms", type=int, default=2000)
    a = parser.parse_args(argv)
    batches = [int(b) for b in a.batches.split(",")]
    settings = PerfSettings(concurrency=1, interval_ms=a.interval_ms, stability_percentage=10, max_trials=6, retries=0)
    rows = []
    try:
        with tempfile.TemporaryDirectory(prefix="native-bench-") as tmp:
            root = Path(tmp)
            write_repository(root / "models", max(batches))
            runtime = Runtime(paths.RUNTIME)
            with TritonServer(runtime, root / "models", root / "server.log", models=list(MODELS)) as server:
                for batch in batches:
                    for model, what in MODELS.items():
                        m = measure(runtime, model, server.ports.grpc_url, batch, root / "perf", Path("random"), settings)
                        row, ev = normalise(m), evidence(m.samples, 0.10)
                        ci = "n/a (too few windows)" if ev["throughput_ci_low"] is None else \
                            f"{ev['throughput_ci_low']:,.0f} - {ev['throughput_ci_high']:,.0f}"
                        rows.append([what, batch, f"{row['throughput_infer_per_s']:,.0f}", ci,
                                     f"{row['latency_p99_us']:,.0f}", ev["windows"], "yes" if m.stable else "no"])
                        print(f"[bench-native] {model} batch {batch}: {row['throughput_infer_per_s']:,.0f} infer/s",
                              file=sys.stderr, flush=True)
    except KNOWN_ERRORS as exc:
        print(f"bench-native: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("bench-native: interrupted; the server is stopped.", file=sys.stderr)
        return 130
    print(f"Host: {summary(fingerprint())}; runtime {paths.RUNTIME}; FP32 outputs, KIND_CPU instances, no GPU work")
    print(tabulate(rows, headers=["model", "batch", "infer/s", "95% CI", "p99 us", "windows", "stable"],
                   tablefmt="github", colalign=("left", "right", "right", "right", "right", "right", "left")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
