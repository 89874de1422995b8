"""ResNet50 in one python-backend model on the GPU (h100 profile): torchvision's resnet50 in FP16 or FP32,
channels-last, cuDNN, replayed from CUDA graphs captured at load for the batch sizes spec.json lists; a
batch the dynamic batcher forms runs in the smallest captured graph that holds it, its rows padded
(padding rows are never returned). A single request of a batch that is a multiple of ``chunk_rows`` runs
in chunks: the host copy of one chunk overlaps the GPU work of the one before. Engine: PyTorch, not
TensorRT, and no torch.compile.

The network (repro.families.imagenet.model.served_model) is the one the native backend runs as TorchScript
too; spec "device": cpu runs it eagerly on CPU tensors, for the tests.

Weights: the convolutions are drawn from the seed by the host's torchvision (their sha256 must equal the
checkpoint's, or loading fails), the fitted BatchNorm statistics and classifier come from ``fitted.pt``.
The repro modules travel with the model (copied into its version directory)."""
import bisect
import json
import sys
import time
from pathlib import Path

import torch
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import from_dlpack, to_dlpack

INPUT, OUTPUT = "INPUT__0", "OUTPUT__0"


class TritonPythonModel:
    def initialize(self, args):
        root = Path(args["model_repository"]) / args["model_version"]
        sys.path.insert(0, str(root))
        from repro.engines import torch_serving as ts
        self.ts, self.root = ts, root
        spec = json.loads((root / "spec.json").read_text())
        torch.backends.cudnn.benchmark = True
        torch.backends.cudnn.allow_tf32 = False          # FP32 means FP32 (the gate's strict reference)
        torch.backends.cuda.matmul.allow_tf32 = False
        from repro.families.imagenet.model import served_model
        device = torch.device(spec.get("device", "cuda"))
        model = served_model(spec, root, device.type)

        def forward(**feeds):
            return model(feeds[INPUT])
        self.step = ts.GraphedStep(forward, {INPUT: ((3, 224, 224), torch.float32)}, device,
                                   chunk_rows=spec["chunk_rows"])
        self.batches = sorted(spec["graph_batches"])
        for batch in self.batches:
            self.step.prepare(batch)
        self.times, self.padded, self.chunked = ts.PhaseTimes(), {}, 0

    def run(self, parts, n):
        """``parts``: the requests' host tensors (``n`` images in all)."""
        if len(parts) == 1 and self.step.chunked(n):
            self.chunked += 1
            out = self.step.run_chunked(n, {INPUT: parts[0]})
            self.times.mark("chunked copy + gpu")
            return out
        at = bisect.bisect_left(self.batches, n)
        if at == len(self.batches):          # larger than every graph: eager, unpadded
            return self.step.fn(**{INPUT: torch.cat(parts).to(self.step.device)}).cpu()
        slot = self.step.slot(self.batches[at])
        start = 0
        for part in parts:                   # each request's images straight into the pinned slot
            slot.host[INPUT][start:start + part.shape[0]].copy_(part)
            start += part.shape[0]
        self.times.mark("host copy")
        slot.dev[INPUT].copy_(slot.host[INPUT], non_blocking=True)   # (a plain copy on the tests' CPU engine)
        if slot.batch != n:
            self.padded[n] = slot.batch
        out = self.step.run(slot)[:n]        # replay, copy back, synchronise
        self.times.mark("gpu")
        return out

    def execute(self, requests):
        began = time.perf_counter()
        parts = [from_dlpack(pb_utils.get_input_tensor_by_name(r, INPUT).to_dlpack()) for r in requests]
        sizes = [part.shape[0] for part in parts]
        self.times.start(sum(sizes), since=began)
        out = self.run(parts, sum(sizes))
        responses, start = [], 0
        for size in sizes:
            part = out[start:start + size].contiguous()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack(OUTPUT, to_dlpack(part))]))
            start += size
        self.times.mark("respond")
        return responses

    def finalize(self):
        self.ts.write_stats(self.root.parent / "stats.json", {
            "model_time_us": self.times.summary(), "graph_batches": self.batches, "chunked_requests": self.chunked,
            "padded_batches": {str(k): v for k, v in sorted(self.padded.items())}})
