"""Seeded sampling every family's synthetic data shares."""
from __future__ import annotations

import numpy as np

ZIPF_EXPONENT = 1.1       # Criteo/Outbrain-like skew: a few percent of rows serve most lookups


def power_law_categories(rng: np.random.Generator, cardinality: int, n: int) -> np.ndarray:
    """Category ids with P(rank r) ~ r^-s, ranks scattered over the table by a seeded permutation."""
    ranks = rng.zipf(ZIPF_EXPONENT, size=n) - 1
    ranks = np.minimum(ranks, cardinality - 1).astype(np.int64)
    if cardinality <= 1 << 20:
        return rng.permutation(cardinality)[ranks].astype(np.int32)
    return ((ranks * 2654435761 + 12345) % cardinality).astype(np.int32)  # bijective scatter, no big permutation
