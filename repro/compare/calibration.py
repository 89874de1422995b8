"""What `make calibrate-compare` concludes from repeated independent runs: pure functions.

A/A pairs (two runs of one commit) give the run-to-run spread of each metric; pairs of a base run and
a deliberately slowed variant show which drops the verdicts catch. From them: how often each verdict
was right, the envelope that A/A pairs stay within at 95%, the smallest throughput drop flagged in 95%
of rows, and how many interleaved repetitions per side a 20% drop would need.
"""
from __future__ import annotations

import math
from collections import Counter
from itertools import combinations

import numpy as np
from scipy.stats import norm

from repro.compare.classify import INCONCLUSIVE, SAME, WORSE, Row, Verdict
from repro.measure.metrics import COMPARED

TARGET = 0.95


def aa_pairs(runs: list[list[Row]]) -> list[tuple[list[Row], list[Row]]]:
    """Every pair of independent runs of one commit (earlier, later)."""
    return list(combinations(runs, 2))


def log_ratios(pairs: list[tuple[list[Row], list[Row]]], metric: str) -> list[float]:
    out = []
    for base, head in pairs:
        by = {r.key: r for r in head}
        out += [math.log(by[b.key].values[metric] / b.values[metric]) for b in base
                if b.key in by and b.values[metric] > 0 and by[b.key].values[metric] > 0]
    return out


def envelope(aa_log_ratios: list[float]) -> float:
    """The ratio factor that 95% of A/A pairs stay within (rounded up to 0.01)."""
    q = float(np.quantile(np.abs(aa_log_ratios), TARGET)) if aa_log_ratios else 0.0
    return math.ceil(math.exp(q) * 100) / 100


def rates(verdicts: list[Verdict], right: str) -> dict[str, dict[str, float | int]]:
    """Per metric: rows, and the share of right / inconclusive / wrong verdicts."""
    out = {}
    for m in COMPARED:
        counts = Counter(v.verdict for v in verdicts if v.metric == m.name)
        n = sum(counts.values())
        wrong = sum(c for k, c in counts.items() if k not in (right, INCONCLUSIVE))
        out[m.name] = {"rows": n, "right": counts.get(right, 0), "inconclusive": counts.get(INCONCLUSIVE, 0),
                       "wrong": wrong, "right_share": round(counts.get(right, 0) / n, 3) if n else None}
    return out


def smallest_detected_drop(factor: float, aa_sigma: float) -> float:
    """The throughput drop flagged in 95% of rows: beyond the envelope by 1.645 A/A standard deviations."""
    return 1 - math.exp(-(math.log(factor) + norm.ppf(TARGET) * aa_sigma))


def repetitions_for(drop: float, aa_sigma: float, alpha: float = 0.05) -> int:
    """Interleaved independent runs per side so that a ``drop`` is found with 95% power by a test on the
    mean log throughput of the runs (two-sided ``alpha``); one run per side has spread ``aa_sigma``."""
    effect = -math.log(1 - drop)
    return max(1, math.ceil(((norm.ppf(1 - alpha / 2) + norm.ppf(TARGET)) * aa_sigma / effect) ** 2))


RIGHT = {"A/A": SAME, "slowed": WORSE}   # the right verdict of each kind of pair
