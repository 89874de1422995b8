"""Inference through the served models with tritonclient (gRPC, 127.0.0.1)."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from repro.families.criteo.dataset import Split


def infer_split(url: str, model: str, split: Split, batch_size: int) -> np.ndarray:
    """Click probabilities for every sample of ``split``, sent in batches of ``batch_size``."""
    client = grpcclient.InferenceServerClient(url)
    out = []
    try:
        for start in range(0, len(split), batch_size):
            part = split.batch(start, start + batch_size)
            inputs = [grpcclient.InferInput("categorical_features", list(part.categorical.shape), "INT32"),
                      grpcclient.InferInput("numerical_features", list(part.numerical.shape), "FP32")]
            inputs[0].set_data_from_numpy(np.ascontiguousarray(part.categorical, dtype=np.int32))
            inputs[1].set_data_from_numpy(np.ascontiguousarray(part.numerical, dtype=np.float32))
            result = client.infer(model, inputs, outputs=[grpcclient.InferRequestedOutput("output")])
            out.append(result.as_numpy("output").ravel())
    finally:
        client.close()
    return np.concatenate(out)


def write_request_inputs(split: Split, path: Path, samples: int = 256) -> None:
    """perf_analyzer real input data (batch-1 entries) from the test split: in-range category ids."""
    data = [{"categorical_features": {"content": split.categorical[i].astype(int).tolist(), "shape": [26]},
             "numerical_features": {"content": [round(float(v), 4) for v in split.numerical[i]], "shape": [13]}}
            for i in range(min(samples, len(split)))]
    path.write_text(json.dumps({"data": data}))
