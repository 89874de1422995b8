"""ResNet50 on the native backend (repro_torch): the python flavour's network
(repro.families.imagenet.model.served_model) traced to TorchScript on the serving host, checked against the
eager network on random normalised images at batch sizes other than the traced one."""
from __future__ import annotations

import json
from pathlib import Path

import torch

from repro.families.imagenet.dataset import SIZE
from repro.families.imagenet.model import served_model
from repro.native import modules

TRACE_BATCH = 2
CHECK_BATCHES = (1, 3)
TOLERANCE = {"fp32": 1e-3, "fp16": 5e-2}   # largest logit difference; cuDNN may pick other algorithms per batch


def random_images(device: str) -> modules.Examples:
    def examples(batch: int, seed: int) -> tuple:
        gen = torch.Generator().manual_seed(seed)
        return (torch.randn(batch, 3, SIZE, SIZE, generator=gen).to(device),)
    return examples


def write_engine(version: Path, device: str) -> float:
    """Trace the version's network (spec.json), check it as the backend loads it, write engine.pt; returns the
    largest logit difference from the eager network."""
    spec = json.loads((version / "spec.json").read_text())
    if device == "cuda":
        torch.backends.cudnn.allow_tf32 = False     # as the backend runs it (native.txt: tf32 0)
        torch.backends.cuda.matmul.allow_tf32 = False
    model = served_model(spec, version, device)
    examples = random_images(device)
    module = modules.trace(model, examples(TRACE_BATCH, 0))
    return modules.write_checked(module, version, model, examples, CHECK_BATCHES, TOLERANCE[spec["precision"]],
                                 torch.device(device), capture_batch=4)
