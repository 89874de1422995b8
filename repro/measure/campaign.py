"""One measurement campaign: start the real server with a set of models, run perf_analyzer for
each model and batch size, stop the server whatever happens."""
from __future__ import annotations

import json
from pathlib import Path

from repro import paths
from repro.cli import progress
from repro.measure.perf_analyzer import PerfSettings, composing_breakdown, measure, normalise
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer


def measure_models(names: list[str], repository: Path, out: Path, input_data: Path, batches: list[int],
                   s: PerfSettings, labels: dict[str, dict], log_name: str) -> tuple[dict[str, list[dict]], list[dict]]:
    """Published-schema rows per model name, and the composing-model breakdown of the ensembles."""
    rows: dict[str, list[dict]] = {name: [] for name in names}
    breakdown: list[dict] = []
    log = out / "logs" / f"{log_name}.log"
    with TritonServer(Runtime(paths.RUNTIME), repository.resolve(), log, models=names, ready_timeout_s=300) as server:
        for name in names:
            for batch in batches:
                if not server.is_alive():
                    raise RuntimeError(f"the Triton server died during the measurement (see {log}); "
                                       "earlier results are unchanged")
                assert server.ports is not None
                m = measure(server.runtime, name, server.ports.grpc_url, batch, out / "raw" / name, input_data, s)
                row = {**normalise(m), **labels[name]}
                progress("perf", f"{name} batch {batch}: {row['Inferences/Second']:.4g} infer/s, "
                                 f"p99 {row['p99 latency']:.0f} us{'' if m.stable else ' (UNSTABLE after retries)'}")
                rows[name].append(row)
                samples = out / "samples" / f"{name}_b{batch}.json"
                samples.parent.mkdir(parents=True, exist_ok=True)
                samples.write_text(json.dumps(m.samples) + "\n")
                breakdown += [{"ensemble": name, **b} for b in composing_breakdown(m)]
    return rows, breakdown
