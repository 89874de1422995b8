"""`make calibrate-compare`: how often `make compare` is right on this machine.

Measures one served model (the cpu profile's `dlrm_hps` ensemble, the profile's offline batch sizes)
in interleaved runs: base, a deliberately slowed variant (its dense step sleeps a fraction of its own
compute time, about a 20% throughput drop), and base again. Then it classifies base vs base (A/A: a
good method says "no significant change", never better or worse) and base vs slowed (a good method
says "worse"), and prints how often each verdict came out, with the slowdown actually measured.

    python -m tools.calibrate_compare [--reps 3] [--slowdown 0.3] [--model dlrm_hps]
Needs `make deploy` first (triton_repos/cpu, artifacts/data).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

from tabulate import tabulate

from repro import paths
from repro.compare.classify import WORSE, Row, classify
from repro.measure.campaign import measure_group
from repro.measure.metrics import COMPARED, THROUGHPUT
from repro.measure.perf_analyzer import PerfSettings
from repro.measure.scenarios import offline, point_name
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.serving.model_config import from_pbtxt, to_pbtxt
from repro.serving.plan import ServedGroup

WORK = paths.ROOT / ".cache" / "calibrate-compare"


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
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    group = ServedGroup("server", repo, {model: {}}, lambda path: shutil.copy(inputs, path))
    rows, _ = measure_group(group, run, [offline(batches)], s)
    out = []
    for r in rows[model]:
        samples = json.loads((run / "samples" / f"{point_name(model, r['batch'], r['concurrency'])}.json").read_text())
        out.append(Row(model, r["batch"], r["concurrency"], {m.name: r[m.name] for m in COMPARED}, samples, {}))
    return out


def tally(verdicts) -> dict[str, Counter]:
    return {m.name: Counter(v.verdict for v in verdicts if v.metric == m.name) for m in COMPARED}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--slowdown", type=float, default=0.3, help="dense sleep as a fraction of its compute time")
    parser.add_argument("--model", default="dlrm_hps")
    a = parser.parse_args(argv)
    params = load_params()
    profile = get_profile(params, "cpu")
    repo = paths.TRITON_REPOS / profile.name / "local"
    if not (repo / a.model).exists():
        print(f"calibrate-compare: {repo / a.model} is missing; run `make deploy` first", file=sys.stderr)
        return 2
    from repro.families import family_of
    WORK.mkdir(parents=True, exist_ok=True)
    inputs = WORK / "input_data.json"
    family = family_of(params, a.model.rsplit("_", 1)[0])
    family.write_request_inputs(paths.ARTIFACTS / "data" / family.name, inputs)
    slowed = slowed_copy(repo, WORK / "slowed", a.slowdown)
    s, batches = PerfSettings.from_params(profile.perf), profile.perf["batch_sizes"]
    aa, ac, ratios = [], [], []
    for rep in range(a.reps):
        print(f"[calibrate] repetition {rep + 1}/{a.reps}: base, slowed, base", file=sys.stderr, flush=True)
        base = rows_of(a.model, repo, WORK / "base", inputs, batches, s)
        slow = rows_of(a.model, slowed, WORK / "slow", inputs, batches, s)
        again = rows_of(a.model, repo, WORK / "again", inputs, batches, s)
        aa += classify(base, again)
        ac += classify(base, slow)
        ratios += [h.values[THROUGHPUT] / b.values[THROUGHPUT] for b, h in zip(base, slow)]
    table = [(metric, "A/A", sum(c.values()), c.get("no significant change", 0), c.get("inconclusive", 0),
              c.get("better", 0) + c.get(WORSE, 0)) for metric, c in tally(aa).items()]
    table += [(metric, "slowed", sum(c.values()), c.get(WORSE, 0), c.get("inconclusive", 0),
               c.get("no significant change", 0) + c.get("better", 0)) for metric, c in tally(ac).items()]
    print(tabulate(table, headers=["metric", "comparison", "rows", "right verdict", "inconclusive", "wrong verdict"],
                   tablefmt="github"))
    print(f"\nright verdict: A/A -> no significant change; slowed -> worse. Slowed throughput measured at "
          f"{min(ratios):.2f}-{max(ratios):.2f}x of base (mean {sum(ratios) / len(ratios):.2f}), "
          f"{a.reps} repetitions x {len(batches)} batch sizes, model {a.model}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
