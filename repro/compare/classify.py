"""Classify measured rows of two result sets: better / worse / no significant change / inconclusive /
not comparable.

A row is only compared with the row of the same table, batch and concurrency, measured under the same
settings, engine, precision, device, runtime, versions and host; otherwise it is 'not comparable' and
the verdict says which of those differ. A change is significant when the ratio is beyond the run-to-run
noise factor of its metric (repro.compare.noise) AND the samples say so: a Mann-Whitney U test on the window throughputs (at least 4 per side)
or on the per-request latencies for p50 (at least 20), and for p99 disjoint 95% bootstrap intervals of
the p99 itself (at least 100 requests per side). With fewer samples the verdict is 'inconclusive',
never 'no significant change'. Pure functions: loading (repro.compare.revisions) and rendering
(repro.compare.render) live elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from scipy.stats import mannwhitneyu

from repro.measure import statistics as stats
from repro.measure.metrics import COMPARED, P99, Metric

BETTER, WORSE, SAME, NOT_COMPARABLE = "better", "worse", "no significant change", "not comparable"
INCONCLUSIVE = "inconclusive"   # too few samples to tell: never reported as unchanged
LABEL_FIELDS = ("engine", "precision", "device", "runtime", "versions")
COMPARED_LABELS = (*LABEL_FIELDS, "host")   # host: repro.measure.host summary, read beside the results


METRICS = COMPARED   # throughput, p50 and p99: the metrics table's entries backed by repeated samples


@dataclass
class Row:
    """One measured row with what it needs for a fair comparison."""
    table: str
    batch: int
    concurrency: int
    values: dict[str, float]
    samples: dict[str, list[float]]
    labels: dict[str, str]
    settings: dict[str, object] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.table, self.batch, self.concurrency)


@dataclass(frozen=True)
class Verdict:
    table: str
    batch: int
    concurrency: int
    metric: str
    base: float | None
    head: float | None
    ratio: float | None
    p_value: float | None
    verdict: str
    reason: str = ""


def differences(base: Row, head: Row) -> list[str]:
    """What makes two rows not comparable, in words."""
    diff = [f"{name} differs: {base.labels.get(name)!r} -> {head.labels.get(name)!r}" for name in COMPARED_LABELS
            if base.labels.get(name) != head.labels.get(name)]
    keys = sorted(set(base.settings) | set(head.settings))
    diff += [f"setting {k}: {base.settings.get(k)!r} -> {head.settings.get(k)!r}" for k in keys
             if base.settings.get(k) != head.settings.get(k)]
    return diff


def significance(base: list[float], head: list[float]) -> float:
    """Two-sided Mann-Whitney U p-value."""
    return float(mannwhitneyu(base, head, alternative="two-sided").pvalue)


def test_metric(base: Row, head: Row, metric: Metric, alpha: float) -> tuple[bool | None, float | None, str]:
    """(do the samples differ?, p-value, why). None when the samples are too few to tell."""
    b, h = base.samples.get(metric.samples or "", []), head.samples.get(metric.samples or "", [])
    if metric.name == P99:
        if min(len(b), len(h)) < stats.MIN_TAIL_REQUESTS:
            return None, None, (f"p99 from {len(b)} vs {len(h)} requests: too few for a tail estimate "
                                f"(needs {stats.MIN_TAIL_REQUESTS} each)")
        lo, hi = stats.interval(b, stats.p99, stats.MIN_TAIL_REQUESTS), stats.interval(h, stats.p99,
                                                                                      stats.MIN_TAIL_REQUESTS)
        overlap = "do not overlap" if stats.disjoint(lo, hi) else "overlap"
        return stats.disjoint(lo, hi), None, f"p99 95% intervals [{lo[0]:.0f}, {lo[1]:.0f}] vs [{hi[0]:.0f}, {hi[1]:.0f}] {overlap}"
    minimum, unit = (stats.MIN_WINDOWS, "windows") if metric.samples == "throughput" else (stats.MIN_REQUESTS, "requests")
    if min(len(b), len(h)) < minimum:
        return None, None, f"{len(b)} vs {len(h)} {unit}: too few to test (needs {minimum} each)"
    p = significance(b, h)
    return p < alpha, p, f"p={p:.3g}" + (f" >= {alpha:g}" if p >= alpha else "")


def classify_metric(base: Row, head: Row, metric: Metric, noise: float, alpha: float) -> Verdict:
    b, h = base.values[metric.name], head.values[metric.name]
    ratio = h / b if b else None
    different, p, why = test_metric(base, head, metric, alpha)
    improved = ratio is not None and (ratio > noise if metric.higher_is_better else ratio < 1 / noise)
    regressed = ratio is not None and (ratio < 1 / noise if metric.higher_is_better else ratio > noise)
    if different is None:
        verdict, reason = INCONCLUSIVE, why
    elif (improved or regressed) and different:
        verdict, reason = (BETTER if improved else WORSE), f"beyond noise x{noise:g}; {why}"
    elif improved or regressed:
        verdict, reason = SAME, f"beyond noise x{noise:g} but not significant: {why}"
    else:
        verdict, reason = SAME, f"within noise x{noise:g}; {why}"
    return Verdict(base.table, base.batch, base.concurrency, metric.name, b, h, ratio, p, verdict, reason)


def classify(base_rows: list[Row], head_rows: list[Row], noise: float | dict[str, float] = 1.10,
             alpha: float = 0.05) -> list[Verdict]:
    """Verdicts for every metric of every row present in either set (unmatched rows are not comparable).
    ``noise``: one factor for every metric, or metric -> factor (a profile's run-to-run envelope)."""
    factors = noise if isinstance(noise, dict) else {m.name: noise for m in METRICS}
    base_by, head_by = {r.key: r for r in base_rows}, {r.key: r for r in head_rows}
    verdicts = []
    for key in sorted(set(base_by) | set(head_by)):
        b, h = base_by.get(key), head_by.get(key)
        for metric in METRICS:
            if b is None or h is None:
                side = "base" if b is None else "head"
                present = h if b is None else b
                value = present.values[metric.name]
                verdicts.append(Verdict(*key, metric.name, None if b is None else value, None if h is None else value,
                                        None, None, NOT_COMPARABLE, f"no row at {side}"))
                continue
            diff = differences(b, h)
            if diff:
                verdicts.append(Verdict(*key, metric.name, b.values[metric.name], h.values[metric.name], None, None,
                                        NOT_COMPARABLE, "; ".join(diff)))
            else:
                verdicts.append(classify_metric(b, h, metric, factors[metric.name], alpha))
    return verdicts


def has_regression(verdicts: list[Verdict]) -> bool:
    return any(v.verdict == WORSE for v in verdicts)
