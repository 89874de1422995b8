"""One measurement campaign: start the real server with a set of models, run perf_analyzer for each
model at every point of every scenario, stop the server whatever happens."""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from repro import paths
from repro.cli import progress
from repro.measure.metrics import P99, THROUGHPUT
from repro.measure.perf_analyzer import PerfSettings, composing_breakdown, measure, normalise
from repro.measure.scenarios import Scenario, Selection, point_name
from repro.measure.statistics import evidence
from repro.serving.plan import ServedGroup
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer


def group_points(group: ServedGroup, scenarios: list[Scenario]) -> list[tuple[str, int, int]]:
    """(table, batch, concurrency) of every point the group's sweep has."""
    return [(scenario.table_name(name), batch, concurrency) for name in group.models for scenario in scenarios
            for batch, concurrency in scenario.points]


def measure_group(group: ServedGroup, out: Path, scenarios: list[Scenario], s: PerfSettings,
                  wanted: Selection = Selection()) -> tuple[dict[str, list[dict]], list[dict]]:
    """Canonical rows per table (``scenario.table_name(served)``) of the points ``wanted`` selects, and
    the composing-model breakdown of the ensembles. Each point's repeated samples go to
    ``out/samples/<point>.json``; the request inputs to ``out/input_<group>.json``. A group with no
    wanted point is not started."""
    rows: dict[str, list[dict]] = {}
    breakdown: list[dict] = []
    if not any(wanted(*point) for point in group_points(group, scenarios)):
        return rows, breakdown
    log = out / "logs" / f"server_{group.name}.log"
    input_data = out / f"input_{group.name}.json"
    group.write_inputs(input_data)
    s = dataclasses.replace(s, shared_memory=group.shared_memory)
    labels = group.models
    group.prepare()
    with TritonServer(Runtime(paths.RUNTIME), group.repository.resolve(), log, models=list(group.models),
                      ready_timeout_s=group.ready_timeout_s, extra_args=list(group.server_args)) as server:
        progress("perf", f"{group.name}: server ready")
        for name in group.models:
            for scenario in scenarios:
                table = scenario.table_name(name)
                for batch, concurrency in scenario.points:
                    if not wanted(table, batch, concurrency):
                        continue
                    if not server.is_alive():
                        raise RuntimeError(f"the Triton server died during the measurement (see {log}); "
                                           "earlier results are unchanged")
                    assert server.ports is not None
                    m = measure(server.runtime, name, server.ports.grpc_url, batch, out / "raw" / table, input_data,
                                dataclasses.replace(s, concurrency=concurrency))
                    found = evidence(m.samples, s.max_cv)
                    spread_ok = found.pop("spread_ok")
                    row = {**normalise(m), **found, "stable": m.stable and spread_ok,
                           "stable_perf_analyzer": m.stable, "scenario": scenario.name, **labels[name]}
                    progress("perf", f"{table} batch {batch} concurrency {concurrency}: {row[THROUGHPUT]:.4g} "
                                     f"infer/s, p99 {row[P99]:.0f} us{'' if row['stable'] else ' (UNSTABLE: see windows and CV)'}")
                    rows.setdefault(table, []).append(row)
                    samples = out / "samples" / f"{point_name(table, batch, concurrency)}.json"
                    samples.parent.mkdir(parents=True, exist_ok=True)
                    samples.write_text(json.dumps(m.samples) + "\n")
                    breakdown += [{"ensemble": table, **b} for b in composing_breakdown(m)]
    return rows, breakdown
