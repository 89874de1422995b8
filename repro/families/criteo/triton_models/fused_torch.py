"""The whole DLRM/DCNv2 forward in one python-backend model on the GPU (h100 profile): the sparse
engine its spec names (repro.engines.gpu_tables: fused table, placement, or placement + GPU cache) and the
dense part executed from the converted ONNX graph (repro.engines.onnx_engine), replayed from one CUDA graph
per batch size (for the cache engine only the dense part is graphed: its miss path is data
dependent). Host inputs go to the GPU through pinned staging buffers. Engine: PyTorch, not TensorRT.
The repro modules travel with the model (copied into its version directory)."""
import sys
import time
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
        device = torch.device(self.spec.device)
        self.sparse = ts.sparse_engine(self.spec, root, device)
        self.dense = ts.dense_engine(self.spec, root, device)
        dims = len(self.spec.cardinalities)
        host_inputs = {"ids": ((dims,), torch.int32), "numerical": ((ts.NUM_NUMERICAL,), torch.float32)}
        if self.spec.sparse == "cache":      # eager sparse (data-dependent misses), graphed dense
            self.step = ts.GraphedStep(lambda numerical, lookups: ts.dense_forward(self.dense, numerical, lookups),
                                       {"numerical": host_inputs["numerical"],
                                        "lookups": ((dims, self.spec.embedding_dim), ts.DTYPES[self.spec.precision])},
                                       device)
        else:
            self.step = ts.GraphedStep(lambda ids, numerical: ts.dense_forward(self.dense, numerical, self.sparse(ids)),
                                       host_inputs, device, chunk_rows=self.spec.chunk_rows)
        for batch in self.spec.batch_sizes:
            self.step.prepare(batch)
        self.distinct, self.times = {}, ts.PhaseTimes()

    def infer(self, ids, numerical):
        if self.spec.sparse != "cache":
            return self.step(ids=ids, numerical=numerical)
        slot = self.step.stage(ids.shape[0], numerical=numerical)
        slot.dev["lookups"].copy_(self.sparse(ids.to("cuda", non_blocking=True)))
        return self.step.run(slot)

    def execute(self, requests):
        responses = []
        for request in requests:
            # DLPack both ways: numpy 2 on the host breaks the 2.51 python backend's numpy path
            began = time.perf_counter()
            ids = from_dlpack(pb_utils.get_input_tensor_by_name(request, "categorical_features").to_dlpack())
            num = from_dlpack(pb_utils.get_input_tensor_by_name(request, "numerical_features").to_dlpack())
            if ids.shape[0] not in self.distinct:       # workload realism, once per batch size (not timed)
                self.distinct[ids.shape[0]] = int(torch.unique(ids.to(torch.int64) * 1000 + torch.arange(
                    ids.shape[1], device=ids.device)).numel())
                self.ts.write_stats(self.root.parent / "stats.json", self.stats())
                began = time.perf_counter()
            self.times.start(ids.shape[0], since=began)
            out = self.infer(ids, num)
            self.times.mark("infer")
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack("output", to_dlpack(out))]))
            self.times.mark("respond")
        return responses

    def stats(self):
        return {"sparse": self.sparse.stats(), "sparse_label": self.sparse.label,
                "distinct_ids_per_request": {str(k): v for k, v in sorted(self.distinct.items())},
                "model_time_us": self.times.summary()}

    def finalize(self):
        self.ts.write_stats(self.root.parent / "stats.json", self.stats())
