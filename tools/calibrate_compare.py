"""`make calibrate-compare`: how often `make compare` is right on this machine, and what it resolves.

Measures one served model (the cpu profile's `dlrm_hps` ensemble at the profile's offline batch sizes)
in independent runs (each its own server), interleaved: per repetition a base run, then one run of each
slowed variant (the dense step sleeps a fraction of its own compute time). Then, with the verdicts of
`make compare` (the envelope in params.yaml `compare.noise.<profile>` and the sample tests):
- A/A, every pair of base runs: the right verdict is "no significant change";
- base vs each slowed variant of the same repetition: the right verdict is "worse";
and from the A/A spread: the envelope A/A pairs stay within at 95% (what `compare.noise` should say),
the smallest throughput drop flagged in 95% of rows, and how many interleaved runs per side a 20%
drop would need. Written to results/calibration/compare-<profile>.{json,md}.

    python -m tools.calibrate_compare [--reps 6] [--slowdowns 0.3,1.0] [--model dlrm_hps]
Needs `make deploy` first (triton_repos/cpu, artifacts/data).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import sys
from pathlib import Path

from tabulate import tabulate

from repro import atomic, paths
from repro.compare import calibration as cal
from repro.compare.classify import Row, classify
from repro.compare.noise import compare_params
from repro.measure.campaign import measure_group
from repro.measure.metrics import COMPARED, THROUGHPUT
from repro.measure.perf_analyzer import PerfSettings
from repro.measure.scenarios import offline, point_name
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.serving.model_config import from_pbtxt, to_pbtxt
from repro.serving.plan import ServedGroup

WORK = paths.ROOT / ".cache" / "calibrate-compare"
OUT = paths.ROOT / "results" / "calibration"


def slowed_copy(repo: Path, out: Path, slowdown: float) -> Path:
    """The repository, hard-linked, with the dense step told to sleep ``slowdown`` of its compute time."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(repo, out, copy_function=os.link)
    config_path = out / "dlrm_dense" / "config.pbtxt"
    config = from_pbtxt(config_path.read_text())
    config.parameters["calibration_slowdown"].string_value = str(slowdown)
    config_path.unlink()
    config_path.write_text(to_pbtxt(config))
    return out


def rows_of(model: str, repo: Path, run: Path, inputs: Path, batches: list[int], s: PerfSettings) -> list[Row]:
    """One independent run: its own server, the offline sweep, rows with their samples."""
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    group = ServedGroup("server", repo, {model: {}}, lambda path: shutil.copy(inputs, path))
    rows, _ = measure_group(group, run, [offline(batches)], s)
    out = []
    for r in rows[model]:
        samples = json.loads((run / "samples" / f"{point_name(model, r['batch'], r['concurrency'])}.json").read_text())
        out.append(Row(model, r["batch"], r["concurrency"], {m.name: r[m.name] for m in COMPARED}, samples, {}))
    return out


def summarise(base_runs, slowed_runs: dict[float, list], noise: dict[str, float], alpha: float) -> dict:
    """Everything the calibration reports, from the measured runs (pure)."""
    aa = cal.aa_pairs(base_runs)
    out = {"runs_per_variant": len(base_runs), "rows_per_run": len(base_runs[0]), "noise": noise, "alpha": alpha,
           "A/A": {"pairs": len(aa), "rates": cal.rates([v for b, h in aa for v in classify(b, h, noise, alpha)],
                                                         cal.RIGHT["A/A"])},
           "envelope_95": {}, "slowed": {}}
    for m in COMPARED:
        logs = cal.log_ratios(aa, m.name)
        out["envelope_95"][m.name] = {"factor": cal.envelope(logs), "sigma_log": round(statistics.stdev(logs), 4)}
    for slowdown, runs in slowed_runs.items():
        pairs = list(zip(base_runs, runs))
        ratios = [math.exp(x) for x in cal.log_ratios(pairs, THROUGHPUT)]
        out["slowed"][str(slowdown)] = {
            "throughput_ratio_mean": round(statistics.fmean(ratios), 3),
            "throughput_ratio_range": [round(min(ratios), 3), round(max(ratios), 3)],
            "rates": cal.rates([v for b, h in pairs for v in classify(b, h, noise, alpha)], cal.RIGHT["slowed"])}
    sigma = out["envelope_95"][THROUGHPUT]["sigma_log"]
    out["smallest_drop_flagged_95"] = round(cal.smallest_detected_drop(noise[THROUGHPUT], sigma), 3)
    out["runs_per_side_for_20pct"] = cal.repetitions_for(0.20, sigma, alpha)
    return out


def render(result: dict, model: str, source: str) -> str:
    share = lambda n, r: f"{n / r['rows']:.0%}"  # noqa: E731
    rows = [(m, "A/A", r["rows"], r["right"], r["inconclusive"], r["wrong"], share(r["right"], r), share(r["wrong"], r))
            for m, r in result["A/A"]["rates"].items()]
    for slowdown, s in result["slowed"].items():
        rows += [(m, f"slowed {slowdown} (thr x{s['throughput_ratio_mean']:.2f})", r["rows"], r["right"],
                  r["inconclusive"], r["wrong"], share(r["right"], r), share(r["wrong"], r)) for m, r in s["rates"].items()]
    env = result["envelope_95"]
    return "\n".join([
        f"# make compare, calibrated on this machine ({model})\n",
        f"{result['runs_per_variant']} independent runs per variant, interleaved; {result['rows_per_run']} rows per run; "
        f"{result['A/A']['pairs']} A/A pairs of runs. Envelope used: "
        + ", ".join(f"{m} x{f:g}" for m, f in result["noise"].items()) + f" ({source}); alpha {result['alpha']:g}.\n",
        tabulate(rows, headers=["metric", "pair", "rows", "right verdict", "inconclusive", "wrong verdict", "right share",
                                    "wrong share"],
                 tablefmt="github"),
        "\nRight verdict: A/A -> no significant change; slowed -> worse (on A/A a wrong verdict is a false alarm; "
        "inconclusive: too few samples to test, e.g. a p99 from fewer than 100 requests). Slowed throughput: "
        + "; ".join(f"{k}: x{s['throughput_ratio_mean']:.2f} ({s['throughput_ratio_range'][0]:.2f}-"
                    f"{s['throughput_ratio_range'][1]:.2f})" for k, s in result["slowed"].items()) + ".\n",
        "A/A envelope at 95% (what `compare.noise` should hold here): "
        + ", ".join(f"{m} x{e['factor']:g} (sd of log ratio {e['sigma_log']:.3f})" for m, e in env.items()) + ".\n",
        f"Smallest throughput drop flagged in 95% of rows with one run per side: about "
        f"{result['smallest_drop_flagged_95']:.0%}. A 20% drop needs about {result['runs_per_side_for_20pct']} "
        "interleaved independent runs per side, compared by their mean log throughput.\n"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=6, help="independent runs per variant (at least 3)")
    parser.add_argument("--slowdowns", default="0.3,1.0", help="dense sleep as fractions of its compute time")
    parser.add_argument("--model", default="dlrm_hps")
    a = parser.parse_args(argv)
    if a.reps < 3:
        print("calibrate-compare: --reps must be at least 3 (A/A pairs need independent runs)", file=sys.stderr)
        return 2
    params = load_params()
    profile = get_profile(params, "cpu")
    noise, source = compare_params(params).envelope(profile.name)
    repo = paths.TRITON_REPOS / profile.name / "local"
    if not (repo / a.model).exists():
        print(f"calibrate-compare: {repo / a.model} is missing; run `make deploy` first", file=sys.stderr)
        return 2
    from repro.families import family_of
    WORK.mkdir(parents=True, exist_ok=True)
    inputs = WORK / "input_data.json"
    family = family_of(params, a.model.rsplit("_", 1)[0])
    family.write_request_inputs(paths.ARTIFACTS / "data" / family.name, inputs)
    slowdowns = [float(x) for x in a.slowdowns.split(",") if x]
    slowed = {k: slowed_copy(repo, WORK / f"slowed-{k}", k) for k in slowdowns}
    s, batches = PerfSettings.from_params(profile.perf), profile.perf["batch_sizes"]
    base_runs, slowed_runs = [], {k: [] for k in slowdowns}
    for rep in range(a.reps):
        print(f"[calibrate] repetition {rep + 1}/{a.reps}: base, then slowed {slowdowns}", file=sys.stderr, flush=True)
        base_runs.append(rows_of(a.model, repo, WORK / "base", inputs, batches, s))
        for k in slowdowns:
            slowed_runs[k].append(rows_of(a.model, slowed[k], WORK / "slow", inputs, batches, s))
    result = summarise(base_runs, slowed_runs, noise, compare_params(params).alpha)
    text = render(result, a.model, source)
    print(text)
    atomic.write_text(OUT / f"compare-{profile.name}.json", json.dumps({"model": a.model, "source": source, **result},
                                                                        indent=2) + "\n")
    atomic.write_text(OUT / f"compare-{profile.name}.md", text)
    print(f"written: {OUT}/compare-{profile.name}.{{json,md}}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
