"""Dense step of the h100 two-step ensemble: the converted ONNX dense graph run by PyTorch
(repro.engines.onnx_engine), one CUDA graph per batch size; lookup vectors arrive on the GPU from the sparse
step, numerical features from the client. Engine: PyTorch, not TensorRT."""
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
        spec = ts.ModelSpec.read(root / "spec.json")
        device = torch.device("cuda")
        self.dense = ts.dense_engine(spec, root, device)
        self.step = ts.GraphedStep(lambda numerical, lookups: ts.dense_forward(self.dense, numerical, lookups),
                                   {"numerical": ((ts.NUM_NUMERICAL,), torch.float32),
                                    "lookups": ((len(spec.cardinalities), spec.embedding_dim), ts.DTYPES[spec.precision])},
                                   device, chunk_rows=spec.chunk_rows)
        for batch in spec.batch_sizes:
            self.step.prepare(batch)

    def execute(self, requests):
        responses = []
        for request in requests:
            num = from_dlpack(pb_utils.get_input_tensor_by_name(request, "numerical_features").to_dlpack())
            lookups = from_dlpack(pb_utils.get_input_tensor_by_name(request, "lookup_vectors").to_dlpack())
            out = self.step(numerical=num, lookups=lookups)
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack("output", to_dlpack(out))]))
        return responses
