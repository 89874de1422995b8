"""Wide & Deep through the served model with tritonclient (gRPC, 127.0.0.1), and perf_analyzer's input
data: the Triton client's layout, every feature its own tensor, multi-hots padded to 3 with -1."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tritonclient.grpc as grpcclient

from repro.families.outbrain.dataset import Batch
from repro.families.outbrain.features import INPUTS, OUTPUT, input_dtype


def infer(url: str, model: str, data: Batch, batch_size: int) -> np.ndarray:
    """Click probabilities of every sample of ``data``, sent in requests of ``batch_size`` samples."""
    client = grpcclient.InferenceServerClient(url)
    out = []
    try:
        for start in range(0, len(data), batch_size):
            part = data.rows(start, start + batch_size)
            inputs = []
            for name in INPUTS:
                array = np.ascontiguousarray(part.inputs[name])
                tensor = grpcclient.InferInput(name, list(array.shape), input_dtype(name))
                tensor.set_data_from_numpy(array)
                inputs.append(tensor)
            result = client.infer(model, inputs, outputs=[grpcclient.InferRequestedOutput(OUTPUT)])
            out.append(result.as_numpy(OUTPUT).ravel())
    finally:
        client.close()
    return np.concatenate(out)


def write_request_inputs(data: Batch, path: Path, samples: int = 256) -> None:
    """perf_analyzer real input data: batch-1 entries of the validation split (in-range ids)."""
    def entry(i: int) -> dict:
        return {name: {"content": [round(float(v), 5) if name_is_float else int(v) for v in data.inputs[name][i]],
                       "shape": [data.inputs[name].shape[1]]}
                for name, name_is_float in ((n, input_dtype(n) == "FP32") for n in INPUTS)}
    path.write_text(json.dumps({"data": [entry(i) for i in range(min(samples, len(data)))]}))
