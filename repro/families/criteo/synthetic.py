"""Seeded synthetic Criteo-like data: power-law category frequencies (the skew that makes embedding
caches work), log-transformed numerical features, and labels drawn from a seeded teacher model so a
trained model reaches a clearly non-trivial AUC."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from repro.families.criteo.dataset import Split
from repro.families.sampling import power_law_categories


@dataclass(frozen=True)
class Teacher:
    numerical_weights: np.ndarray          # [13]
    category_effects: list[np.ndarray]     # per table: effect of each of its first ``effect_rows`` categories
    bias: float


EFFECT_ROWS = 1000        # the teacher scores the most frequent categories of each table


def make_teacher(rng: np.random.Generator, cardinalities: list[int], num_numerical: int) -> Teacher:
    effects = [rng.normal(0.0, 0.6, size=min(card, EFFECT_ROWS)) for card in cardinalities]
    return Teacher(rng.normal(0.0, 0.5, size=num_numerical), effects, bias=-1.0)


def teacher_logits(teacher: Teacher, numerical: np.ndarray, categorical: np.ndarray) -> np.ndarray:
    logits = numerical.astype(np.float64) @ teacher.numerical_weights + teacher.bias
    for i, effect in enumerate(teacher.category_effects):
        ids = categorical[:, i]
        known = ids < len(effect)
        logits[known] += effect[ids[known]]
    return logits


def make_split(rng: np.random.Generator, teacher: Teacher, cardinalities: list[int], n: int,
               num_numerical: int) -> Split:
    categorical = np.stack([power_law_categories(rng, c, n) for c in cardinalities], axis=1)
    raw = rng.lognormal(mean=1.0, sigma=1.2, size=(n, num_numerical))
    numerical = np.log1p(raw).astype(np.float16)                       # upstream: log(x + 1)
    centred = numerical.astype(np.float64) - np.log1p(np.exp(1.0))
    logits = teacher_logits(teacher, centred, categorical)
    label = rng.random(n) < 1.0 / (1.0 + np.exp(-logits))
    return Split(numerical, categorical, label)


def make_dataset(seed: int, cardinalities: list[int], train: int, test: int,
                 num_numerical: int = 13) -> dict[str, Split]:
    rng = np.random.default_rng(seed)
    teacher = make_teacher(rng, cardinalities, num_numerical)
    return {"train": make_split(rng, teacher, cardinalities, train, num_numerical),
            "test": make_split(rng, teacher, cardinalities, test, num_numerical)}
