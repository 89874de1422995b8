"""Checkpoints in the upstream layout: ``<ckpt>/dense/`` (config + weights) and ``<ckpt>/sparse/``
(config + one ``feature_<i>.npy`` per table). Plain .npy files, so a checkpoint is byte-identical
when its values are."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from repro.errors import UserError


class CheckpointError(UserError):
    """A checkpoint is missing, incomplete or corrupt; the message names the file."""


@dataclass
class Checkpoint:
    model: str
    dense: dict[str, np.ndarray]
    tables: list[np.ndarray]

    @property
    def cardinalities(self) -> list[int]:
        return [t.shape[0] for t in self.tables]

    @property
    def dim(self) -> int:
        return int(self.tables[0].shape[1])


def write_checkpoint(root: Path, ckpt: Checkpoint) -> None:
    (root / "dense").mkdir(parents=True, exist_ok=True)
    (root / "sparse").mkdir(parents=True, exist_ok=True)
    (root / "dense" / "config.json").write_text(json.dumps(
        {"model": ckpt.model, "weights": list(ckpt.dense)}, indent=2) + "\n")
    for name, array in ckpt.dense.items():
        np.save(root / "dense" / f"{name}.npy", array)
    (root / "sparse" / "config.json").write_text(json.dumps(
        {"cardinalities": ckpt.cardinalities, "embedding_dim": ckpt.dim}, indent=2) + "\n")
    for i, table in enumerate(ckpt.tables):
        np.save(root / "sparse" / f"feature_{i}.npy", table)


def load_array(path: Path, shape: tuple[int, ...] | None = None) -> np.ndarray:
    try:
        array = np.load(path, mmap_mode="r")
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: incomplete checkpoint; re-run `dvc repro train`.") from None
    except (ValueError, OSError) as exc:
        raise CheckpointError(f"{path} is not a readable .npy array ({exc}); the checkpoint is corrupt, "
                              "re-run `dvc repro -f train`.") from None
    if shape is not None and tuple(array.shape) != shape:
        raise CheckpointError(f"{path} has shape {tuple(array.shape)}, expected {shape}; re-run `dvc repro -f train`.")
    return np.asarray(array)


def read_config(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{path} is missing: not a checkpoint directory.") from None
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"{path}: invalid JSON ({exc}); the checkpoint is corrupt.") from None


def read_checkpoint(root: Path) -> Checkpoint:
    dense_cfg = read_config(root / "dense" / "config.json")
    sparse_cfg = read_config(root / "sparse" / "config.json")
    dense = {name: load_array(root / "dense" / f"{name}.npy") for name in dense_cfg["weights"]}
    dim = int(sparse_cfg["embedding_dim"])
    tables = [load_array(root / "sparse" / f"feature_{i}.npy", (rows, dim))
              for i, rows in enumerate(sparse_cfg["cardinalities"])]
    return Checkpoint(dense_cfg["model"], dense, tables)
