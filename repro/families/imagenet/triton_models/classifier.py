"""ResNet50 in one python-backend model on the CPU: the TorchScript module run by PyTorch, or the ONNX graph
run by ONNX Runtime (config parameter ``engine``). Requests the dynamic batcher hands over together run as
one batch: their images are concatenated and the logits split back."""
import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

INPUT, OUTPUT = "INPUT__0", "OUTPUT__0"


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        threads = int(params.get("intra_op_threads", "1"))
        version = Path(args["model_repository"]) / args["model_version"]
        if params["engine"] == "torchscript":
            import torch
            torch.set_num_threads(threads)
            module = torch.jit.load(str(version / "model.pt"), map_location="cpu").eval()

            def run(x):
                with torch.no_grad():
                    return module(torch.from_numpy(x)).numpy()
            self.run = run
        else:
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(version / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self.run = lambda x: session.run([OUTPUT], {INPUT: x})[0]

    def execute(self, requests):
        images = [pb_utils.get_input_tensor_by_name(r, INPUT).as_numpy() for r in requests]
        sizes = [len(x) for x in images]
        logits = self.run(images[0] if len(images) == 1 else np.concatenate(images))
        parts = np.split(logits, np.cumsum(sizes)[:-1])
        return [pb_utils.InferenceResponse([pb_utils.Tensor(OUTPUT, part)]) for part in parts]
