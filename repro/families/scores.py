"""Accuracy metrics."""
from __future__ import annotations

import numpy as np
from scipy.stats import rankdata


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve (Mann-Whitney form, ties averaged)."""
    labels = np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    positives, negatives = labels.sum(), (~labels).sum()
    if positives == 0 or negatives == 0:
        raise ValueError("AUC needs both positive and negative labels")
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def map_at_k(groups: np.ndarray, labels: np.ndarray, scores: np.ndarray, k: int = 12) -> float:
    """Mean average precision at k with one relevant item per group (upstream's W&D MAP@12): per group
    that holds a click, 1 / (1 + rank of the clicked item) when it ranks in the top k, else 0; ranks by
    descending score, ties in the order the samples came (a stable sort). Groups without a click are
    left out; NaN scores are an error."""
    groups, labels = np.asarray(groups).ravel(), np.asarray(labels).astype(bool).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    if not (len(groups) == len(labels) == len(scores)):
        raise ValueError(f"MAP@{k}: groups, labels and scores differ in length ({len(groups)}, {len(labels)}, {len(scores)})")
    if not np.all(np.isfinite(scores)):
        raise ValueError(f"MAP@{k}: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    order = np.lexsort((np.arange(len(scores)), -scores, groups))       # by group, then score descending
    g, hit = groups[order], labels[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
    rank = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
    clicked_groups = np.unique(g[hit])
    if len(clicked_groups) == 0:
        raise ValueError(f"MAP@{k} needs at least one group with a click")
    first_hit = first_per_key(g[hit], rank[hit])
    return float(np.sum(np.where(first_hit < k, 1.0 / (first_hit + 1), 0.0)) / len(clicked_groups))


def first_per_key(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """The first value of each key in ``keys`` (sorted): the best-ranked click of each group."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return values[starts]
