"""The whole Wide & Deep model in one python-backend model on the GPU (h100 profile): the converted ONNX
graph executed op by op by PyTorch (repro.families.outbrain.gpu_engine: the engine the native backend runs
too), replayed from CUDA graphs (spec "device": cpu runs it eagerly on CPU tensors, for the tests). Graphs are captured at load time for the batch sizes spec.json lists; a batch the dynamic batcher
forms runs in the smallest captured graph that holds it, its rows padded (padding rows are never
returned). Host inputs reach the GPU through pinned staging buffers. Engine: PyTorch, not TensorRT.
The repro modules travel with the model (copied into its version directory)."""
import bisect
import json
import sys
import time
from pathlib import Path

import torch
import triton_python_backend_utils as pb_utils
from torch.utils.dlpack import from_dlpack, to_dlpack

OUTPUT = "wide_deep_model"


class TritonPythonModel:
    def initialize(self, args):
        root = Path(args["model_repository"]) / args["model_version"]
        sys.path.insert(0, str(root))
        from repro.engines import torch_serving as ts
        from repro.families.outbrain.gpu_engine import build_forward
        self.ts, self.root = ts, root
        spec = json.loads((root / "spec.json").read_text())
        device = torch.device(spec.get("device", "cuda"))
        forward = build_forward(spec, root, device.type)
        self.names = list(spec["inputs"])
        host = {name: ((width,), torch.float32 if kind == "FP32" else torch.int32)
                for name, (kind, width) in spec["inputs"].items()}
        self.step = ts.GraphedStep(forward, host, device)
        self.batches = sorted(spec["graph_batches"])
        for batch in self.batches:
            self.step.prepare(batch)
        self.times, self.padded = ts.PhaseTimes(), {}

    def run(self, feeds, n):
        """``feeds``: per input, the requests' host tensors (``n`` rows in all)."""
        at = bisect.bisect_left(self.batches, n)
        if at == len(self.batches):          # larger than every graph: eager, unpadded
            return self.step.fn(**{k: torch.cat(v).to(self.step.device) for k, v in feeds.items()}).cpu()
        slot_batch = self.batches[at]
        slot = self.step.slot(slot_batch)
        for name, parts in feeds.items():        # each request's rows straight into the pinned slot
            start = 0
            for part in parts:
                slot.host[name][start:start + part.shape[0]].copy_(part)
                start += part.shape[0]
            if start < slot_batch:
                slot.host[name][start:].zero_()   # padding rows: valid ids (the staging memory is uninitialised)
        self.times.mark("host copy")
        if slot_batch != n:
            self.padded[n] = slot_batch
        if self.step.device.type != "cuda":      # the tests' CPU engine: no events, no graphs
            for name in feeds:
                slot.dev[name].copy_(slot.host[name])
            out = self.step.run(slot)[:n]
            self.times.mark("cpu")
            return out
        events = [torch.cuda.Event(enable_timing=True) for _ in range(3)]
        events[0].record()
        for name in feeds:
            slot.dev[name].copy_(slot.host[name], non_blocking=True)
        events[1].record()
        out = self.step.run(slot)[:n]             # replay, copy back, synchronise
        events[2].record()
        events[2].synchronize()
        self.times.mark("gpu")
        self.times.add("of which h2d (GPU)", events[0].elapsed_time(events[1]) * 1e3)
        self.times.add("of which graph+d2h (GPU)", events[1].elapsed_time(events[2]) * 1e3)
        return out

    def execute(self, requests):
        began = time.perf_counter()
        feeds = {name: [from_dlpack(pb_utils.get_input_tensor_by_name(r, name).to_dlpack()) for r in requests]
                 for name in self.names}
        sizes = [part.shape[0] for part in feeds[self.names[0]]]
        self.times.start(sum(sizes), since=began)
        out = self.run(feeds, sum(sizes))
        responses, start = [], 0
        for size in sizes:
            part = out[start:start + size].contiguous()
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor.from_dlpack(OUTPUT, to_dlpack(part))]))
            start += size
        self.times.mark("respond")
        return responses

    def stats(self):
        return {"model_time_us": self.times.summary(), "graph_batches": self.batches,
                "padded_batches": {str(k): v for k, v in sorted(self.padded.items())}}

    def finalize(self):
        self.ts.write_stats(self.root.parent / "stats.json", self.stats())
