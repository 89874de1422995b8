"""Dense submodel: the tf2onnx ONNX file run by ONNX Runtime (CPU) inside Triton's python backend.
The config parameter ``calibration_slowdown`` (absent in every written repository) makes it sleep that
fraction of its compute time: the deliberately slowed variant `make calibrate-compare` measures."""
import json
import time
from pathlib import Path

import onnxruntime as ort
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(params.get("intra_op_threads", {}).get("string_value", "1"))
        options.inter_op_num_threads = 1
        path = Path(args["model_repository"]) / args["model_version"] / "model.onnx"
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.inputs = [i.name for i in self.session.get_inputs()]
        self.slowdown = float(params.get("calibration_slowdown", {}).get("string_value", "0"))

    def execute(self, requests):
        responses = []
        for request in requests:
            feeds = {name: pb_utils.get_input_tensor_by_name(request, name).as_numpy() for name in self.inputs}
            started = time.perf_counter()
            (output,) = self.session.run(["output"], feeds)
            if self.slowdown:
                time.sleep((time.perf_counter() - started) * self.slowdown)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("output", output)]))
        return responses
