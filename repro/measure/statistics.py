"""What the repeated samples of one measured point can and cannot say.

Each point has per-window throughputs (perf_analyzer's measurement windows) and per-request latencies
(its profile export). From them: the spread of the windows (coefficient of variation), 95% intervals
for throughput (of the window mean) and for p99 itself (a percentile bootstrap, scipy), and the
counts behind them. A point is called stable only when perf_analyzer reached its criterion AND the
windows agree within ``max_cv``; a comparison needs enough samples on both sides to have power.
"""
from __future__ import annotations

import math

import numpy as np
from scipy.stats import bootstrap

CONFIDENCE = 0.95
RESAMPLES = 2000
MIN_WINDOWS = 4          # 4 vs 4 windows is the smallest Mann-Whitney test that can reach p < 0.05
MIN_REQUESTS = 20        # for a median
MIN_TAIL_REQUESTS = 100  # a p99 from fewer requests rests on a single slowest request or none


def interval(samples: list[float], statistic, minimum: int) -> tuple[float, float] | None:
    """A seeded percentile-bootstrap 95% interval of ``statistic``; None with fewer than ``minimum`` samples."""
    if len(samples) < minimum or len(set(samples)) < 2:
        return None if len(samples) < minimum else (float(samples[0]), float(samples[0]))
    result = bootstrap((np.asarray(samples, dtype=float),), statistic, confidence_level=CONFIDENCE,
                       n_resamples=RESAMPLES, method="percentile", random_state=np.random.default_rng(0),
                       vectorized=True)
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def p99(values, axis=-1):
    return np.percentile(values, 99, axis=axis)


def mean(values, axis=-1):
    return np.mean(values, axis=axis)


def cv(samples: list[float]) -> float | None:
    if len(samples) < 2 or not np.mean(samples):
        return None
    return float(np.std(samples, ddof=1) / np.mean(samples))


def evidence(samples: dict, max_cv: float) -> dict:
    """Counts, spread and intervals of one point, as result-row columns."""
    windows, latencies = samples.get("throughput", []), samples.get("latency_us", [])
    spread = cv(windows)
    tp, tail = interval(windows, mean, 2), interval(latencies, p99, MIN_TAIL_REQUESTS)
    rnd = lambda v: None if v is None else round(v, 1)  # noqa: E731
    return {"windows": len(windows), "requests": int(samples.get("requests", len(latencies))),
            "throughput_cv": None if spread is None else round(spread, 4),
            "throughput_ci_low": rnd(tp and tp[0]), "throughput_ci_high": rnd(tp and tp[1]),
            "latency_p99_ci_low_us": rnd(tail and tail[0]), "latency_p99_ci_high_us": rnd(tail and tail[1]),
            "spread_ok": spread is not None and spread <= max_cv}


def disjoint(a: tuple[float, float] | None, b: tuple[float, float] | None) -> bool:
    return a is not None and b is not None and (a[1] < b[0] or b[1] < a[0])


def finite(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value))
