"""The whole model served natively in TensorFlow (seed-004 baseline): one python-backend model
running the sparse and dense SavedModels in one TensorFlow process, no ensemble."""
import json
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    def initialize(self, args):
        params = json.loads(args["model_config"]).get("parameters", {})
        tf.config.threading.set_intra_op_parallelism_threads(int(params.get("intra_op_threads", {}).get("string_value", "1")))
        tf.config.threading.set_inter_op_parallelism_threads(1)
        root = Path(args["model_repository"]) / args["model_version"]
        # keep the loaded objects referenced: their variables die with them
        self.loaded = [tf.saved_model.load(str(root / name)) for name in ("sparse.savedmodel", "dense.savedmodel")]
        sparse, dense = (m.signatures["serving_default"] for m in self.loaded)

        @tf.function
        def forward(categorical, numerical):
            lookups = sparse(categorical_features=categorical)["lookup_vectors"]
            return dense(numerical_features=numerical, lookup_vectors=lookups)["output"]
        self.forward = forward

    def execute(self, requests):
        responses = []
        for request in requests:
            cat = pb_utils.get_input_tensor_by_name(request, "categorical_features").as_numpy()
            num = pb_utils.get_input_tensor_by_name(request, "numerical_features").as_numpy()
            out = self.forward(tf.constant(cat), tf.constant(num)).numpy()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("output", out)]))
        return responses
