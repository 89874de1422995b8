"""Wide & Deep on the native backend (repro_torch): the python flavour's engine
(repro.families.outbrain.gpu_engine) traced to TorchScript on the serving host, its 29 inputs taken by
position in the order native.txt lists them, checked against the eager engine on the gate's samples."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from repro.families.outbrain.gpu_engine import build_forward
from repro.native import modules

TRACE_BATCH = 7                 # traced with one batch size, checked at others
CHECK_BATCHES = (1, 13, 64)
TOLERANCE = {"fp32": 1e-5, "fp16": 2e-3}   # the same ops on the same device: only kernel choice may differ


class ByPosition(torch.nn.Module):
    """forward(*inputs) in ``names`` order -> the engine's forward(**inputs)."""

    def __init__(self, forward, names: list[str]):
        super().__init__()
        self.engine, self.names = forward, list(names)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.engine(**dict(zip(self.names, inputs)))


def sample_examples(samples: Path, names: list[str], device: str) -> modules.Examples:
    """Rows of the gate's samples (real ids and values), drawn with replacement per seed."""
    with np.load(samples) as npz:
        rows = {n: np.ascontiguousarray(npz[n]) for n in names}
    count = len(rows[names[0]])

    def examples(batch: int, seed: int) -> tuple:
        pick = np.random.default_rng(seed).integers(0, count, batch)
        return tuple(torch.from_numpy(rows[n][pick]).to(device) for n in names)
    return examples


def write_engine(version: Path, device: str) -> float:
    """Trace the version's engine (spec.json), check it as the backend loads it, write engine.pt; returns the
    largest difference from the eager engine."""
    spec = json.loads((version / "spec.json").read_text())
    names = list(spec["inputs"])
    forward = build_forward(spec, version, device)
    examples = sample_examples(version / spec["samples"], names, device)
    module = modules.trace(ByPosition(forward, names), examples(TRACE_BATCH, 0))
    return modules.write_checked(module, version, lambda *inputs: forward(**dict(zip(names, inputs))), examples,
                                 CHECK_BATCHES, TOLERANCE[spec["precision"]], torch.device(device))
