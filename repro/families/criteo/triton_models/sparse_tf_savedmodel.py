"""Sparse lookup: the converted TF SavedModel (size-sorted placement) run by TensorFlow inside
Triton's python backend (this machine has no tensorflow backend)."""
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        threads = int(params.get("intra_op_threads", {}).get("string_value", "1"))
        tf.config.threading.set_intra_op_parallelism_threads(threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        path = Path(args["model_repository"]) / args["model_version"] / "model.savedmodel"
        self.loaded = tf.saved_model.load(str(path))  # keep it referenced: its variables live with it
        self.fn = self.loaded.signatures["serving_default"]

    def execute(self, requests):
        responses = []
        for request in requests:
            ids = pb_utils.get_input_tensor_by_name(request, "categorical_features").as_numpy()
            lookups = self.fn(categorical_features=tf.constant(ids))["lookup_vectors"].numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("lookup_vectors", lookups)]))
        return responses
