"""The python-backend counterpart of the native repro_transport backend: takes each request's inputs and
answers [batch, 1] FP32 zeros (tools/native_bench.py serves both side by side)."""
import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        self.first_input = "categorical_features"

    def execute(self, requests):
        responses = []
        for request in requests:
            batch = pb_utils.get_input_tensor_by_name(request, self.first_input).as_numpy().shape[0]
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("output", np.zeros((batch, 1), np.float32))]))
        return responses
