"""Wide & Deep's GPU engine, the one source both h100 backends run: the converted ONNX graph executed op by
op by PyTorch (repro.engines.onnx_engine, Linear chains fused), its weights generated from the seed. The
python-backend model (triton_models/wd_torch.py) replays it from CUDA graphs; the native backend runs it
as TorchScript traced from this same function (repro/families/outbrain/native.py). Carried into the
python-backend model's version directory."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import torch

from repro.engines.onnx_engine import Engine, TorchBackend, load_graph, optimize

DTYPES = {"fp16": torch.float16, "fp32": torch.float32}


def build_forward(spec: dict, root: Path, device: str) -> Callable[..., torch.Tensor]:
    """``forward(**inputs) -> [B, 1] float32`` of the spec's graph and precision (inputs by name, on ``device``)."""
    torch.backends.cuda.matmul.allow_tf32 = spec["fp32_matmul"] == "tf32"
    dtype = DTYPES[spec["precision"]]
    graph = optimize(load_graph(root / spec["graph"], seed=spec["seed"]))
    engine = Engine(graph, TorchBackend({"fp16": "float16", "fp32": "float32"}[spec["precision"]], device))

    def forward(**feeds: torch.Tensor) -> torch.Tensor:
        feeds = {k: v.to(dtype) if v.is_floating_point() else v for k, v in feeds.items()}
        return engine(**feeds)[0].float()
    return forward
