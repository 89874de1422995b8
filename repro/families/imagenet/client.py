"""ResNet50 through the served model with tritonclient (gRPC, 127.0.0.1), and perf_analyzer's input data."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from repro.families.imagenet.dataset import Split, normalise
from repro.families.imagenet.export import INPUT, OUTPUT


def infer(url: str, model: str, images: np.ndarray, batch_size: int) -> np.ndarray:
    """Logits [N, 1000] of uint8 images, normalised here (upstream's client side) and sent in requests of
    ``batch_size`` images."""
    client = grpcclient.InferenceServerClient(url)
    out = []
    try:
        for start in range(0, len(images), batch_size):
            x = normalise(images[start:start + batch_size])
            tensor = grpcclient.InferInput(INPUT, list(x.shape), "FP32")
            tensor.set_data_from_numpy(x)
            result = client.infer(model, [tensor], outputs=[grpcclient.InferRequestedOutput(OUTPUT)])
            out.append(result.as_numpy(OUTPUT))
    finally:
        client.close()
    return np.concatenate(out)


def write_request_inputs(split: Split, path: Path, samples: int = 1) -> None:
    """perf_analyzer input data: ``samples`` normalised validation images, one per entry (base64 of FP32
    [3, 224, 224], 803 KB of JSON each; the file is kept with the results, and the GPU host carries the
    checkout, so one image by default; upstream sends random data of the same shape)."""
    x = normalise(split.images[:samples])
    entries = [{INPUT: {"b64": base64.b64encode(image.tobytes()).decode(), "shape": list(image.shape)}} for image in x]
    path.write_text(json.dumps({"data": entries}))
