"""Stage `accuracy`: the test split through every served model via tritonclient; each served score
compared with the framework's own on the same data (AUC for the Criteo family). The gate fails
closed: a difference beyond the family's tolerance, or a NaN score, exits non-zero and leaves the
earlier report as it was.

    python -m stages.accuracy --profile cpu --repos triton_repos/cpu --data artifacts/data --train-metrics results/train \
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
from repro.families import family_of, served_models
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.serving.plan import AccuracyCheck, describe_details
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer


def evaluate(check: AccuracyCheck, log: Path) -> dict[str, tuple[float, dict]]:
    """Each served model's score and what its family reports beside it (a score may come with details)."""
    check.prepare()
    with TritonServer(Runtime(paths.RUNTIME), check.repository.resolve(), log, models=list(check.gated),
                      ready_timeout_s=check.ready_timeout_s, extra_args=list(check.server_args)) as server:
        assert server.ports is not None
        scores = {name: check.score(server.ports.grpc_url, name) for name in check.gated}
    return {name: s if isinstance(s, tuple) else (s, {}) for name, s in scores.items()}


def gate(name: str, served: float, reference: float, tolerance: float) -> dict:
    delta = abs(served - reference)
    return {"score_served": round(served, 6) if math.isfinite(served) else str(served),
            "score_framework": reference, "abs_diff": round(delta, 8) if math.isfinite(delta) else str(delta),
            "passed": bool(delta <= tolerance)}  # NaN compares False: it fails


def build(profile_name: str, repos: Path, data: Path, train_metrics: Path, out: Path, params_path: Path,
          only: list[str] | None = None) -> None:
    """``only``: check just these models; the earlier report's entries of the others are kept."""
    params = load_params(params_path)
    profile = get_profile(params, profile_name)
    models = served_models(params, profile, only)
    report, failures = {"profile": profile.name, "models": {}}, []
    if only and out.exists():
        earlier = json.loads(out.read_text())["models"]
        prefixes = tuple(f"{m}_" for m in models)
        report["models"] = {k: v for k, v in earlier.items() if k not in models and not k.startswith(prefixes)}
    for model in models:
        family = family_of(params, model)
        reference = json.loads((train_metrics / f"{model}.json").read_text())
        checks = family.accuracy_checks(model, repos, data, reference, params, profile)
        if not checks:
            progress("accuracy", f"{model}: no accuracy check on profile {profile.name} (its flavour serves no "
                                 "trained weights here)")
            report["models"][model] = {"checked": False}
        logs = out.parent / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        for i, check in enumerate(checks):
            with atomic.staged_file(logs / f"accuracy_{model}{f'_{i}' if i else ''}.log") as log:
                served = evaluate(check, log)
            for name, (score, details) in served.items():
                row = {**gate(name, score, check.reference, check.tolerance), "metric": check.metric,
                       "tolerance": check.tolerance, "test_samples": check.samples, "gated": check.gated[name],
                       "note": check.note, **({"details": details} if details else {})}
                if not check.gated[name]:
                    row["passed"] = None if math.isfinite(score) else False   # reported only, but never NaN
                verdict = {True: "pass", False: "FAIL", None: "reported"}[row["passed"]]
                progress("accuracy", f"{name}: {check.metric} {score:.6f} vs framework {check.reference:.6f} "
                                     f"(|diff| {row['abs_diff']}, tolerance {check.tolerance:g}): {verdict}"
                                     + (f"; {describe_details(details)}" if details else ""))
                report["models"][name] = row
                if row["passed"] is False:
                    failures.append(f"{name}: |{check.metric} diff| {row['abs_diff']} > {check.tolerance:g}")
    if failures:   # the earlier report stays: it is the last one that passed
        raise RuntimeError("accuracy gate failed: " + "; ".join(failures) + f"; {out} is unchanged")
    atomic.write_text(out, json.dumps(report, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of params.yaml 'profiles'")
    for flag in ("--repos", "--data", "--train-metrics", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--models", default=None, help="comma-separated: check only these, keep the others' entries")
    a = parser.parse_args(argv)
    only = a.models.split(",") if a.models else None
    return run_stage("accuracy", lambda: build(a.profile, a.repos, a.data, a.train_metrics, a.out, a.params, only))


if __name__ == "__main__":
    sys.exit(main())
