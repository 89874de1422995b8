"""Stage `accuracy`: the test split through every served model via tritonclient; AUC compared with
TensorFlow's AUC on the same data; the stage fails beyond `accuracy.auc_tolerance`.

    python -m stages.accuracy --repos triton_repos/cpu --data artifacts/data --train-metrics results/train \
        --out results/cpu/accuracy.json      (server logs: results/cpu/logs/)
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic, paths
from repro.cli import progress, run_stage
from repro.families.criteo.client import infer_split
from repro.families.criteo.dataset import read_split
from repro.families.scores import roc_auc
from repro.params import load_params
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer

SERVED = ("tf", "hps", "native_tf")


def evaluate(model: str, repos: Path, test, batch: int, log: Path) -> dict[str, float]:
    names = [f"{model}_{v}" for v in SERVED]
    with TritonServer(Runtime(paths.RUNTIME), (repos / "local").resolve(), log, models=names,
                      ready_timeout_s=300) as server:
        assert server.ports is not None
        return {name: roc_auc(test.label, infer_split(server.ports.grpc_url, name, test, batch)) for name in names}


def build(repos: Path, data: Path, train_metrics: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    tolerance, test = params["accuracy"]["auc_tolerance"], read_split(data, "test")
    report, failures = {"auc_tolerance": tolerance, "test_samples": len(test), "models": {}}, []
    for model in params["train"]["models"]:
        reference = json.loads((train_metrics / f"{model}.json").read_text())["test_auc_tf"]
        served = evaluate(model, repos, test, params["accuracy"]["batch_size"], out.parent / "logs" / f"accuracy_{model}.log")
        for name, auc in served.items():
            delta = abs(auc - reference)
            progress("accuracy", f"{name}: AUC {auc:.6f} vs TensorFlow {reference:.6f} (|diff| {delta:.2e})")
            report["models"][name] = {"auc_served": round(auc, 6), "auc_tensorflow": reference,
                                      "abs_diff": round(delta, 8), "passed": delta <= tolerance}
            if delta > tolerance:
                failures.append(f"{name}: |AUC diff| {delta:.2e} > {tolerance:g}")
    atomic.write_text(out, json.dumps(report, indent=2, sort_keys=True) + "\n")
    if failures:
        raise ValueError("accuracy gate failed: " + "; ".join(failures) + f" (report: {out})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--repos", "--data", "--train-metrics", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("accuracy", lambda: build(a.repos, a.data, a.train_metrics, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
