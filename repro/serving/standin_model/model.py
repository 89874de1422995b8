"""A stand-in: same name, batching and I/O as the model it replaces; returns zeros of the declared
shape. A wildcard dimension (-1) takes the size of the same dimension of the first input (1 past its rank)."""
import json

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        self.first_input = config["input"][0]["name"]
        self.batched = int(config.get("max_batch_size", 0)) > 0
        self.outputs = [(o["name"], [int(d) for d in o["dims"]], pb_utils.triton_string_to_numpy(o["data_type"]))
                        for o in config["output"]]

    def shape(self, dims, first):
        lead = [first[0]] if self.batched else []
        rest = list(first[1:]) if self.batched else list(first)
        return lead + [(rest[i] if i < len(rest) else 1) if d == -1 else d for i, d in enumerate(dims)]

    def execute(self, requests):
        responses = []
        for request in requests:
            first = pb_utils.get_input_tensor_by_name(request, self.first_input).as_numpy().shape
            responses.append(pb_utils.InferenceResponse(output_tensors=[
                pb_utils.Tensor(name, np.zeros(self.shape(dims, first), dtype=dtype))
                for name, dims, dtype in self.outputs]))
        return responses
