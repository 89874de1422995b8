"""Synthetic ImageNet-like data for ResNet50 (seeded): what upstream's validation loader yields, 224x224
RGB images with labels, already at the crop size (upstream: resize to 256 on the short side, centre crop
224), stored as decoded uint8 HWC arrays; ``normalise`` gives the served input (NCHW FP32, ImageNet's
mean and std, as upstream's loader).

Every class has a seeded colour and grating (frequency, orientation); an image is its class's look at a
random phase, with a brightness change and pixel noise, so a classifier can learn the labels (``model.fit``).

    artifacts/data/imagenet/{train,valid}_images.npy   uint8 [N, 224, 224, 3]
    artifacts/data/imagenet/{train,valid}_labels.npy   int64 [N], ImageNet class ids (0..999)
    artifacts/data/imagenet/meta.json                  preset, classes, normalisation
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from repro.errors import UserError

SIZE = 224                              # upstream's crop
NUM_CLASSES = 1000                      # ImageNet's, the width of OUTPUT__0
MEAN = (0.485, 0.456, 0.406)            # upstream's normalisation (image_classification/dataloaders.py)
STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Preset:
    name: str
    classes: int            # distinct labels (a seeded subset of the 1000 ImageNet ids)
    train_per_class: int
    valid: int              # validation images (labels drawn uniformly from the classes)


PRESETS = {p.name: p for p in (Preset("tiny", 8, 4, 32), Preset("small", 32, 8, 512))}


@dataclass(frozen=True)
class Split:
    images: np.ndarray      # uint8 [N, 224, 224, 3]
    labels: np.ndarray      # int64 [N]

    def __len__(self) -> int:
        return len(self.labels)

    def rows(self, start: int, stop: int) -> "Split":
        return Split(self.images[start:stop], self.labels[start:stop])


def make_images(rng: np.random.Generator, classes: "ClassLook", which: np.ndarray) -> np.ndarray:
    """One image per entry of ``which`` (a class index): the class's colour and grating at a random phase
    (a shift), a brightness change and pixel noise."""
    y, x = np.mgrid[0:SIZE, 0:SIZE] / SIZE
    out = np.empty((len(which), SIZE, SIZE, 3), np.uint8)
    for i, k in enumerate(which):
        wave = np.sin(2 * np.pi * classes.frequency[k] * (x * np.cos(classes.angle[k]) + y * np.sin(classes.angle[k]))
                      + rng.uniform(0, 2 * np.pi))
        image = 128 + 60 * classes.colour[k] + 50 * wave[..., None] + rng.normal(0, 4) + rng.normal(0, 8, (SIZE, SIZE, 3))
        out[i] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return out


@dataclass(frozen=True)
class ClassLook:
    """What makes a class recognisable: a colour and a grating (frequency in cycles per image, angle)."""
    colour: np.ndarray      # [classes, 3] in [-1, 1]
    frequency: np.ndarray   # [classes]
    angle: np.ndarray       # [classes], radians


def make_dataset(seed: int, preset: Preset) -> dict[str, Split]:
    rng = np.random.default_rng([seed, 3])          # stream 3: this family's data
    class_ids = np.sort(rng.choice(NUM_CLASSES, preset.classes, replace=False))
    look = ClassLook(rng.uniform(-1, 1, (preset.classes, 3)), rng.uniform(3, 20, preset.classes),
                     rng.uniform(0, np.pi, preset.classes))
    train_which = np.repeat(np.arange(preset.classes), preset.train_per_class)
    valid_which = rng.integers(0, preset.classes, preset.valid)
    return {"train": Split(make_images(rng, look, train_which), class_ids[train_which].astype(np.int64)),
            "valid": Split(make_images(rng, look, valid_which), class_ids[valid_which].astype(np.int64))}


def write_dataset(out: Path, splits: dict[str, Split], preset: Preset) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, split in splits.items():
        np.save(out / f"{name}_images.npy", split.images)
        np.save(out / f"{name}_labels.npy", split.labels)
    meta = {"preset": preset.name, "size": SIZE, "layout": "uint8 HWC RGB; served as FP32 NCHW normalised",
            "mean": MEAN, "std": STD, "classes": sorted(set(splits["train"].labels.tolist())),
            "samples": {name: len(split) for name, split in splits.items()}}
    (out / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_split(root: Path, name: str) -> Split:
    images, labels = root / f"{name}_images.npy", root / f"{name}_labels.npy"
    if not images.exists() or not labels.exists():
        raise UserError(f"{images} is missing; run `dvc repro data` (the imagenet family's synthetic images).")
    split = Split(np.load(images, mmap_mode="r"), np.load(labels))
    if split.images.shape[1:] != (SIZE, SIZE, 3) or split.images.dtype != np.uint8 or len(split.images) != len(split.labels):
        raise UserError(f"{images}: expected uint8 [N, {SIZE}, {SIZE}, 3] with one label each, found "
                        f"{split.images.dtype} {split.images.shape} and {len(split.labels)} labels; run `dvc repro data`.")
    return split


def normalise(images: np.ndarray) -> np.ndarray:
    """uint8 HWC images -> the served input, FP32 NCHW normalised with ImageNet's mean and std."""
    x = np.asarray(images, np.float32).transpose(0, 3, 1, 2) / np.float32(255)
    mean = np.asarray(MEAN, np.float32).reshape(1, 3, 1, 1)
    std = np.asarray(STD, np.float32).reshape(1, 3, 1, 1)
    return np.ascontiguousarray((x - mean) / std)
