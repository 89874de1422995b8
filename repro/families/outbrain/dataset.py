"""Synthetic Outbrain-like click data in the upstream parquet layout (NVTabular's output, which the
Triton client reads): one row per (display, ad), 13 one-hot int columns, 3 multi-hot list columns (0 to 3
ids each), 13 float32 numericals, ``clicked`` and ``display_id``; every display shows 2-6 ads and exactly
one is clicked. Files are sorted by display_id and split into ``<split>/part_NN.parquet``.

Clicks come from a seeded teacher: per-id effects of the most frequent ids plus a numerical term; the
clicked ad of a display is drawn with probability softmax(teacher score), so MAP@12 means something."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from repro.errors import UserError
from repro.families.outbrain.features import (GROUP, LABEL, MULTIHOT, MULTIHOT_WIDTH, NUMERICAL, ONEHOT, PAD, INPUTS,
                                              Preset)
from repro.families.sampling import power_law_categories

ADS_PER_DISPLAY = (2, 6)     # inclusive range
EFFECT_ROWS = 500            # the teacher scores the most frequent ids of each feature
SPLITS = ("train", "valid")


@dataclass(frozen=True)
class Teacher:
    effects: dict[str, np.ndarray]     # feature -> effect of each of its ids below EFFECT_ROWS
    numerical: np.ndarray              # [13]


def effect(teacher: Teacher, name: str, ids: np.ndarray) -> np.ndarray:
    table = teacher.effects[name]
    known = (ids >= 0) & (ids < len(table))
    return np.where(known, table[np.where(known, ids, 0)], 0.0)


def multihot_lists(rng: np.random.Generator, buckets: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """(ids [n, 3] padded with PAD, lengths [n]): 0-3 power-law ids per row, no id twice in a row."""
    lengths = rng.choice(np.arange(MULTIHOT_WIDTH + 1), size=n, p=[0.05, 0.35, 0.35, 0.25])
    ids = np.stack([power_law_categories(rng, buckets, n) for _ in range(MULTIHOT_WIDTH)], axis=1)
    ids[:, 1] = np.where(ids[:, 1] == ids[:, 0], (ids[:, 0] + 1) % buckets, ids[:, 1])
    ids[:, 2] = np.where(np.isin(ids[:, 2], ids[:, :2]), (ids[:, 2] + 2) % buckets, ids[:, 2])
    ids[np.arange(MULTIHOT_WIDTH)[None, :] >= lengths[:, None]] = PAD
    return ids.astype(np.int32), lengths


def numericals(rng: np.random.Generator, n: int) -> np.ndarray:
    """13 float32 columns shaped like upstream's: similarities and CTRs in [0, 1], counts and ages log-scaled."""
    out = rng.beta(2.0, 5.0, size=(n, len(NUMERICAL)))
    scaled = [i for i, name in enumerate(NUMERICAL) if name.endswith(("count", "published"))]
    out[:, scaled] = np.log1p(rng.lognormal(2.0, 1.0, size=(n, len(scaled)))) / 10.0
    return out.astype(np.float32)


def make_split(rng: np.random.Generator, teacher: Teacher, buckets: dict[str, int], displays: int,
               first_display: int) -> pd.DataFrame:
    ads = rng.integers(ADS_PER_DISPLAY[0], ADS_PER_DISPLAY[1] + 1, size=displays)
    group = np.repeat(np.arange(first_display, first_display + displays, dtype=np.int64), ads)
    n = len(group)
    columns: dict[str, object] = {GROUP: group}
    score = np.zeros(n)
    for name in ONEHOT:
        ids = power_law_categories(rng, buckets[name], n)
        columns[name] = ids
        score += effect(teacher, name, ids)
    for name in MULTIHOT:
        ids, lengths = multihot_lists(rng, buckets[name], n)
        columns[name] = [row[:k].tolist() for row, k in zip(ids, lengths)]
        score += effect(teacher, name, ids).sum(axis=1)
    num = numericals(rng, n)
    for i, name in enumerate(NUMERICAL):
        columns[name] = num[:, i]
    score += (num.astype(np.float64) - 0.3) @ teacher.numerical
    gumbel = -np.log(-np.log(rng.random(n)))
    frame = pd.DataFrame(columns)
    frame["_z"] = score + gumbel
    clicked = frame.groupby(GROUP)["_z"].idxmax().to_numpy()
    frame[LABEL] = np.zeros(n, np.int32)
    frame.loc[clicked, LABEL] = 1
    return frame.drop(columns="_z")[[GROUP, LABEL, *NUMERICAL, *ONEHOT, *MULTIHOT]]


def make_dataset(seed: int, preset: Preset) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng([seed, 2])
    buckets = preset.buckets()
    teacher = Teacher({name: rng.normal(0.0, 0.8, size=min(b, EFFECT_ROWS)) for name, b in buckets.items()},
                      rng.normal(0.0, 2.0, size=len(NUMERICAL)))
    train = make_split(rng, teacher, buckets, preset.train_displays, 0)
    valid = make_split(rng, teacher, buckets, preset.valid_displays, preset.train_displays)
    return {"train": train, "valid": valid}


def write_dataset(out: Path, splits: dict[str, pd.DataFrame], preset: Preset) -> None:
    """Parquet parts per split (contiguous display ranges, sorted by display_id) and ``schema.json``."""
    files = {"train": preset.train_files, "valid": preset.valid_files}
    for split, frame in splits.items():
        (out / split).mkdir(parents=True)
        displays = np.unique(frame[GROUP].to_numpy())
        for part, chunk in enumerate(np.array_split(displays, files[split])):
            rows = frame[frame[GROUP].isin(chunk)]
            rows.to_parquet(out / split / f"part_{part:02d}.parquet", index=False, compression="snappy")
    schema = {"preset": preset.name, "buckets": preset.buckets(), "onehot": list(ONEHOT), "multihot": list(MULTIHOT),
              "multihot_width": MULTIHOT_WIDTH, "pad": PAD, "numerical": list(NUMERICAL), "label": LABEL,
              "group": GROUP, "rows": {s: len(f) for s, f in splits.items()}}
    (out / "schema.json").write_text(json.dumps(schema, indent=2) + "\n")


@dataclass(frozen=True)
class Batch:
    """Samples as the served model takes them: every input [B, 1] (multi-hot [B, 3] padded), plus the
    label and the display of each sample."""
    inputs: dict[str, np.ndarray]
    label: np.ndarray
    display: np.ndarray

    def __len__(self) -> int:
        return len(self.label)

    def rows(self, start: int, stop: int) -> "Batch":
        return Batch({k: v[start:stop] for k, v in self.inputs.items()}, self.label[start:stop],
                     self.display[start:stop])


def pad_lists(values: pd.Series) -> np.ndarray:
    out = np.full((len(values), MULTIHOT_WIDTH), PAD, np.int32)
    for i, row in enumerate(values):
        out[i, :len(row)] = row[:MULTIHOT_WIDTH]
    return out


def to_batch(frame: pd.DataFrame) -> Batch:
    inputs = {name: frame[name].to_numpy(np.float32)[:, None] for name in NUMERICAL}
    inputs |= {name: frame[name].to_numpy(np.int32)[:, None] for name in ONEHOT}
    inputs |= {name: pad_lists(frame[name]) for name in MULTIHOT}
    return Batch({name: inputs[name] for name in INPUTS}, frame[LABEL].to_numpy(np.int32),
                 frame[GROUP].to_numpy(np.int64))


def read_split(root: Path, split: str) -> Batch:
    """A split as one Batch; an absent or malformed dataset is an error naming the file and the fix."""
    files = sorted((root / split).glob("part_*.parquet"))
    if not files:
        raise UserError(f"{root}/{split}/ has no part_*.parquet files; run `dvc repro data` (params.yaml: data.outbrain)")
    frame = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    missing = [c for c in (GROUP, LABEL, *INPUTS) if c not in frame.columns]
    if missing:
        raise UserError(f"{files[0]}: columns {missing} are missing; regenerate it with `dvc repro data`")
    return to_batch(frame)


def load_schema(root: Path) -> dict:
    path = root / "schema.json"
    if not path.exists():
        raise UserError(f"{path} is missing; run `dvc repro data`")
    return json.loads(path.read_text())
