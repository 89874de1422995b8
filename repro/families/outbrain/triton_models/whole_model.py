"""Wide & Deep, the whole model in one python-backend model: the tf2onnx ONNX graph run by ONNX Runtime
(CPU), or the TF SavedModel run by TensorFlow (config parameter ``engine``). Requests that the dynamic
batcher hands over together run as one batch: their inputs are concatenated, the output is split back."""
import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils

OUTPUT = "wide_deep_model"


class TritonPythonModel:
    def initialize(self, args):
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self.inputs = [i["name"] for i in config["input"]]
        threads = int(params.get("intra_op_threads", "1"))
        version = Path(args["model_repository"]) / args["model_version"]
        if params.get("engine", "onnxruntime") == "tensorflow":
            import tensorflow as tf
            tf.config.threading.set_intra_op_parallelism_threads(threads)
            tf.config.threading.set_inter_op_parallelism_threads(1)
            serve = tf.saved_model.load(str(version / "model.savedmodel")).signatures["serving_default"]
            self.run = lambda feeds: serve(**{k: tf.constant(v) for k, v in feeds.items()})[OUTPUT].numpy()
        else:
            import onnxruntime as ort
            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            session = ort.InferenceSession(str(version / "model.onnx"), options, providers=["CPUExecutionProvider"])
            self.run = lambda feeds: session.run([OUTPUT], feeds)[0]

    def execute(self, requests):
        per_request = [{name: pb_utils.get_input_tensor_by_name(r, name).as_numpy() for name in self.inputs}
                       for r in requests]
        sizes = [len(feeds[self.inputs[0]]) for feeds in per_request]
        if len(per_request) == 1:
            feeds = per_request[0]
        else:
            feeds = {name: np.concatenate([f[name] for f in per_request]) for name in self.inputs}
        output = self.run(feeds)
        parts = np.split(output, np.cumsum(sizes)[:-1])
        return [pb_utils.InferenceResponse([pb_utils.Tensor(OUTPUT, part)]) for part in parts]
