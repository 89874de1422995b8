"""Stage `accuracy`: the test split through every served model via tritonclient; each served score
compared with the framework's own on the same data (AUC for the Criteo family). The gate fails
closed: a difference beyond the family's tolerance, or a NaN score, exits non-zero and leaves the
earlier report as it was.

    python -m stages.accuracy --repos triton_repos/cpu --data artifacts/data --train-metrics results/train \
        --out results/cpu/accuracy.json      (server logs: results/cpu/logs/)
"""
from __future__ import annotations

import json
import math
import sys
import argparse
from pathlib import Path

from repro import atomic, paths
from repro.cli import progress, run_stage
from repro.families import family_of
from repro.params import load_params
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer


def evaluate(model: str, repos: Path, data: Path, params: dict, log: Path) -> dict[str, float]:
    family = family_of(params, model)
    names = family.accuracy_models(model)
    with TritonServer(Runtime(paths.RUNTIME), (repos / "local").resolve(), log, models=names,
                      ready_timeout_s=300) as server:
        assert server.ports is not None
        return {name: family.score(server.ports.grpc_url, name, data / family.name, params) for name in names}


def gate(name: str, served: float, reference: float, tolerance: float) -> dict:
    delta = abs(served - reference)
    return {"score_served": round(served, 6) if math.isfinite(served) else str(served),
            "score_framework": reference, "abs_diff": round(delta, 8) if math.isfinite(delta) else str(delta),
            "passed": bool(delta <= tolerance)}  # NaN compares False: it fails


def build(repos: Path, data: Path, train_metrics: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    report, failures = {"models": {}}, []
    for model in params["models"]:
        family = family_of(params, model)
        reference = json.loads((train_metrics / f"{model}.json").read_text())[family.reference_metric]
        tolerance = family.tolerance(params)
        logs = out.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        with atomic.staged_file(logs / f"accuracy_{model}.log") as log:
            served = evaluate(model, repos, data, params, log)
        for name, score in served.items():
            row = {**gate(name, score, reference, tolerance), "metric": family.score_name, "tolerance": tolerance,
                   "test_samples": family.test_samples(data / family.name)}
            progress("accuracy", f"{name}: {family.score_name} {score:.6f} vs framework {reference:.6f} "
                                 f"(|diff| {row['abs_diff']}, tolerance {tolerance:g}): "
                                 f"{'pass' if row['passed'] else 'FAIL'}")
            report["models"][name] = row
            if not row["passed"]:
                failures.append(f"{name}: |{family.score_name} diff| {row['abs_diff']} > {tolerance:g}")
    if failures:   # the earlier report stays: it is the last one that passed
        raise RuntimeError("accuracy gate failed: " + "; ".join(failures) + f"; {out} is unchanged")
    atomic.write_text(out, json.dumps(report, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--repos", "--data", "--train-metrics", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("accuracy", lambda: build(a.repos, a.data, a.train_metrics, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
