"""Sparse step of the h100 two-step ensemble (like upstream's sparse submodel): categorical ids ->
lookup vectors, left on the GPU and handed to the dense step through DLPack. Engine: PyTorch
(repro.engines.gpu_tables), labelled as such."""
import sys
from pathlib import Path

import torch
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import from_dlpack, to_dlpack


class TritonPythonModel:
    def initialize(self, args):
        root = Path(args["model_repository"]) / args["model_version"]
        sys.path.insert(0, str(root))
        from repro.engines import torch_serving as ts
        self.ts, self.root = ts, root
        self.spec = ts.ModelSpec.read(root / "spec.json")
        self.sparse = ts.sparse_engine(self.spec, root, torch.device("cuda"))

    def execute(self, requests):
        responses = []
        for request in requests:
            ids = from_dlpack(pb_utils.get_input_tensor_by_name(request, "categorical_features").to_dlpack())
            lookups = self.sparse(ids.to("cuda", non_blocking=True))
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack("lookup_vectors",
                                                                                     to_dlpack(lookups))]))
        return responses

    def finalize(self):
        self.ts.write_stats(self.root.parent / "stats.json", {"sparse": self.sparse.stats(),
                                                              "sparse_label": self.sparse.label})
