"""The upstream Criteo binary split format (DeepLearningExamples DLRM_and_DCNv2):

    feature_spec.yaml
    train/ test/  label.bin (bool, 1 byte/sample)  numerical.bin (13 x float16/sample)
                  cat_0.bin .. cat_25.bin (smallest of int8/int16/int32 that holds the cardinality)

The reader reads this project's synthetic data and a real preprocessed Criteo directory alike.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml
from repro.errors import UserError

SPLITS = ("train", "test")


class DataFormatError(UserError):
    """A dataset file is missing, truncated or inconsistent; the message names the file and the fix."""


@dataclass(frozen=True)
class Split:
    numerical: np.ndarray    # [N, 13] float16
    categorical: np.ndarray  # [N, 26] int32
    label: np.ndarray        # [N] bool

    def __len__(self) -> int:
        return len(self.label)

    def batch(self, start: int, stop: int) -> "Split":
        return Split(self.numerical[start:stop], self.categorical[start:stop], self.label[start:stop])


def categorical_dtype(cardinality: int) -> np.dtype:
    for dtype in (np.int8, np.int16, np.int32):
        if cardinality < np.iinfo(dtype).max:
            return np.dtype(dtype)
    raise ValueError(f"cardinality {cardinality} does not fit int32")


def feature_spec(cardinalities: list[int], num_numerical: int) -> dict:
    cats = [f"cat_{i}.bin" for i in range(len(cardinalities))]
    nums = [f"num_{i}" for i in range(num_numerical)]
    features: dict[str, dict] = {name: {"cardinality": int(card), "dtype": str(categorical_dtype(card))}
                                 for name, card in zip(cats, cardinalities)}
    features.update({name: {"dtype": "float16"} for name in nums})
    features["label"] = {"dtype": "bool"}
    source = {split: [{"type": "split_binary", "features": nums, "files": [f"{split}/numerical.bin"]},
                      {"type": "split_binary", "features": ["label"], "files": [f"{split}/label.bin"]}]
              + [{"type": "split_binary", "features": [c], "files": [f"{split}/{c}"]} for c in cats]
              for split in SPLITS}
    return {"channel_spec": {"categorical": cats, "label": ["label"], "numerical": nums},
            "feature_spec": features, "metadata": {}, "source_spec": source}


def write_dataset(root: Path, spec: dict, splits: dict[str, Split]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "feature_spec.yaml").write_text(yaml.safe_dump(spec, sort_keys=True))
    cats = spec["channel_spec"]["categorical"]
    for name, split in splits.items():
        (root / name).mkdir(exist_ok=True)
        split.label.astype(np.bool_).tofile(root / name / "label.bin")
        split.numerical.astype(np.float16).tofile(root / name / "numerical.bin")
        for i, cat in enumerate(cats):
            dtype = np.dtype(spec["feature_spec"][cat]["dtype"])
            split.categorical[:, i].astype(dtype).tofile(root / name / cat)


def load_spec(root: Path) -> dict:
    path = root / "feature_spec.yaml"
    if not path.exists():
        raise DataFormatError(f"{path} is missing: not a dataset directory (run the `data` stage).")
    spec = yaml.safe_load(path.read_text())
    for key in ("channel_spec", "feature_spec", "source_spec"):
        if key not in spec:
            raise DataFormatError(f"{path}: field '{key}' is missing; regenerate the dataset.")
    return spec


def read_column(path: Path, dtype: np.dtype, width: int, rows: int | None) -> np.ndarray:
    if not path.exists():
        raise DataFormatError(f"{path} is missing; regenerate the dataset (dvc repro data).")
    size, item = path.stat().st_size, np.dtype(dtype).itemsize * width
    if size % item or (rows is not None and size // item != rows):
        expected = f"{rows} samples = {rows * item} bytes" if rows is not None else f"a multiple of {item} bytes"
        raise DataFormatError(f"{path} has {size} bytes, expected {expected}: the file is truncated or "
                              f"corrupt; regenerate the dataset (dvc repro -f data).")
    return np.fromfile(path, dtype=dtype).reshape(-1, width) if width > 1 else np.fromfile(path, dtype=dtype)


def cardinalities(spec: dict) -> list[int]:
    return [int(spec["feature_spec"][c]["cardinality"]) for c in spec["channel_spec"]["categorical"]]


def read_split(root: Path, split: str, spec: dict | None = None) -> Split:
    """Read one split; every file must hold the same number of samples as label.bin."""
    spec = spec or load_spec(root)
    files = {chunk["features"][0]: root / chunk["files"][0] for chunk in spec["source_spec"][split]}
    label = read_column(files["label"], np.dtype(np.bool_), 1, None)
    nums = spec["channel_spec"]["numerical"]
    numerical = read_column(files[nums[0]], np.dtype(np.float16), len(nums), len(label))
    columns = []
    for cat, card in zip(spec["channel_spec"]["categorical"], cardinalities(spec)):
        column = read_column(files[cat], np.dtype(spec["feature_spec"][cat]["dtype"]), 1, len(label))
        if len(column) and (column.min() < 0 or column.max() >= card):
            raise DataFormatError(f"{files[cat]}: values outside [0, {card}) (cardinality in feature_spec.yaml)")
        columns.append(column.astype(np.int32))
    return Split(numerical, np.stack(columns, axis=1), label)
