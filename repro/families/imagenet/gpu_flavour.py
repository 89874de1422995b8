"""ResNet50's python-gpu flavour (the h100 profile): torchvision's resnet50 on PyTorch CUDA in FP16,
channels-last, from CUDA graphs (triton_models/resnet_torch.py), one python-backend model per measured
configuration. Written here and carried to the GPU host by the kit; the weights travel as the seed plus
the fitted tensors (BatchNorm statistics and classifier rows of the trained classes, bfloat16, 0.2 MB): the host's torchvision draws the
convolutions from the seed, checked against the checkpoint's sha256. The images are drawn on the host
from the same seed (numpy), checked the same way.

    triton_repos/<p>/resnet50/fitted.pt            the fitted tensors
    triton_repos/<p>/resnet50/perf/<served>/       one repository per configuration and backend (one server start
                                                   each; ``_cpp``: the native C++ backend, repro/native)
    triton_repos/<p>/resnet50/gate/<precision>/    the accuracy gate's repositories (FP32 and FP16, every backend)
    triton_repos/<p>/resnet50/data.json            seed, preset and sha256 of the images the host draws

The gate on the host: top-1 agreement of the served model with the same weights in PyTorch FP32 eager on
the GPU (TF32 off), on the validation images; FP32 at least 99.9%, FP16 at least 99%.
"""
from __future__ import annotations

import hashlib
import json
import os
from functools import cache
from pathlib import Path

import numpy as np

from repro.families.base import RepoInputs
from repro.families.criteo.gpu_flavour import SERVER_POOLS
from repro.families.carried import ENGINE_MODULES, write_python_version
from repro.families.imagenet import dataset
from repro.families.imagenet.repository import io
from repro.native import flavour
from repro.serving import model_config as mcfg
from repro.serving.plan import AccuracyCheck, ServedGroup, read_model_stats
from repro.serving.runtime import TRITON_VERSION

SCRIPT = Path(__file__).parent / "triton_models" / "resnet_torch.py"
IMAGENET_MODULES = ("families/imagenet/__init__.py", "families/imagenet/model.py", "families/imagenet/dataset.py",
                    "errors.py")
INPUTS_LABEL = "client system shared memory (upstream: HTTP payload); FP32 [3, 224, 224] per image, 602 KB"


def served_name(precision: str, chunk_rows: int = 0) -> str:
    return f"resnet50_gpu_{precision}" + (f"_chunk{chunk_rows}" if chunk_rows else "")


def graph_batches(max_batch: int) -> list[int]:
    """Powers of two up to the maximum: the offline sweep, and every size the dynamic batcher pads to."""
    return [b for b in (2 ** i for i in range(max_batch.bit_length())) if b <= max_batch]


def images_digest(split: dataset.Split) -> str:
    return hashlib.sha256(split.images.tobytes() + split.labels.tobytes()).hexdigest()


def write_model(repo: Path, precision: str, spec: dict, max_batch: int, chunk_rows: int = 0,
                backend: str = "python") -> str:
    """One served model: the python backend's (model.py and the repro modules it imports) or, with backend
    ``cpp``, the native backend's (settings; its engine.pt is traced on the serving host). Both take dynamic
    batches and read the same spec.json."""
    name = flavour.served_name(served_name(precision, chunk_rows), backend)
    device = spec.get("device", "cuda")
    inputs, outputs = io()
    if backend == flavour.NATIVE:
        from repro.native import repository as native
        version = native.write_model(repo / name, name, inputs, outputs[0], device, max_batch, spec["graph_batches"],
                                     chunk_rows, dynamic_batching=True, tf32=False, cudnn_benchmark=True)
    else:
        version = repo / name / "1"
        version.mkdir(parents=True)
        write_python_version(version, SCRIPT, (*ENGINE_MODULES, *IMAGENET_MODULES), "Carried: only the imagenet family's model.")
        config = mcfg.python_model(name, max_batch, inputs, outputs, 1, "KIND_GPU" if device == "cuda" else "KIND_CPU",
                                   {"FORCE_CPU_ONLY_INPUT_TENSORS": "yes"})
        mcfg.add_dynamic_batching(config, [max_batch])
        (repo / name / "config.pbtxt").write_text(mcfg.to_pbtxt(config))
    (version / "spec.json").write_text(json.dumps({**spec, "precision": precision, "chunk_rows": chunk_rows,
                                                   "fitted": os.path.relpath(spec["fitted"], version)}, indent=2) + "\n")
    return name


def write_engine(version: Path, device: str) -> None:
    """On the serving host: the native backend's engine.pt, traced from the python flavour's network."""
    from repro.families.imagenet.native import write_engine as write
    write(version, device)


def write_repositories(inputs: RepoInputs, params: dict, options: dict, perf: dict, out: Path) -> dict:
    import torch
    from repro.families.imagenet.model import CHECKPOINT, fitted_state, seeded_digest
    root = out / "resnet50"
    root.mkdir(parents=True)
    state = torch.load(inputs.checkpoint / CHECKPOINT, map_location="cpu", weights_only=True)
    torch.save(fitted_state(state), root / "fitted.pt")
    preset = params["data"]["imagenet"]["preset"]
    valid = dataset.read_split(inputs.data, "valid")
    (root / "data.json").write_text(json.dumps({"seed": params["seed"], "preset": preset,
                                                "valid_digest": images_digest(valid)}, indent=2) + "\n")
    spec = {"seed": params["seed"], "seeded_digest": seeded_digest(state), "fitted": str(root / "fitted.pt"),
            "graph_batches": graph_batches(perf["max_batch_size"])}
    written = [write_model(root / "perf" / flavour.served_name(served_name(c["precision"], c["chunk_rows"]), b),
                           c["precision"], spec, perf["max_batch_size"], c["chunk_rows"], b)
               for c in options["configs"] for b in flavour.backends(options)]
    chunk = gate_chunk_rows(options)
    for precision in ("fp32", "fp16"):   # the measured path: full batches, chunked like the first configuration
        for b in flavour.backends(options):
            write_model(root / "gate" / precision, precision, spec, perf["max_batch_size"], chunk, b)
    return {"local": written, "gate_samples": options["gate_samples"],
            "weights": "seed + fitted tensors (convolutions drawn on the host, checked by sha256)"}


def gate_chunk_rows(options: dict) -> int:
    return options["configs"][0]["chunk_rows"]


@cache
def host_images(root: Path) -> dataset.Split:
    """The validation images, drawn on this host from the seed (numpy) and checked against the repository's digest."""
    meta = json.loads((root / "data.json").read_text())
    valid = dataset.make_dataset(meta["seed"], dataset.PRESETS[meta["preset"]])["valid"]
    if images_digest(valid) != meta["valid_digest"]:
        raise RuntimeError(f"the validation images drawn on this host differ from {root}/data.json's digest: this "
                           "host's numpy draws other values from the seed")
    return valid


def framework_logits(root: Path, samples: int):
    """The same weights in PyTorch FP32 eager on the GPU (TF32 off): the gate's reference."""
    import torch
    from repro.families.imagenet.model import from_seed
    spec = json.loads(next((root / "gate" / "fp32").glob("*/1/spec.json")).read_text())
    fitted = torch.load(root / "fitted.pt", map_location="cpu", weights_only=True)
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
    model = from_seed(spec["seed"], fitted, spec["seeded_digest"]).to("cuda")
    valid = host_images(root).rows(0, samples)
    with torch.no_grad():
        out = [model(torch.from_numpy(dataset.normalise(valid.images[i:i + 32])).to("cuda")).cpu().numpy()
               for i in range(0, len(valid), 32)]
    return np.concatenate(out), valid


def accuracy_checks(repos: Path, cfg: dict, options: dict, batch: int) -> list[AccuracyCheck]:
    """Requests of ``batch`` images (the repositories' maximum, so a chunked configuration's chunks are gated too)."""
    root = repos / "resnet50"
    if not (root / "gate").is_dir():
        return []
    from repro.families.imagenet.client import infer
    from repro.families.imagenet.family import WEIGHTS, top1_agreement
    cached: dict = {}

    def score(url: str, served: str):
        if "framework" not in cached:
            cached["framework"] = framework_logits(root, options["gate_samples"])
        framework, valid = cached["framework"]
        return top1_agreement(framework, infer(url, served, valid.images, batch), valid.labels)

    samples = len(host_images(root).rows(0, options["gate_samples"]))
    checks = []
    for precision in ("fp32", "fp16"):
        repo = root / "gate" / precision
        names = [flavour.served_name(served_name(precision, gate_chunk_rows(options)), b) for b in flavour.backends(options)]
        checks.append(AccuracyCheck(
            repo, score, 1.0, round(1.0 - cfg["min_top1_agreement"][precision], 6), samples, {n: True for n in names},
            "top-1 agreement", f"top-1 agreement with the same weights in PyTorch FP32 eager on the GPU (TF32 off), "
            f"requests of {batch} images; gate: at least {cfg['min_top1_agreement'][precision]:.1%} in "
            f"{precision.upper()}; served by {flavour.described(options)}; {WEIGHTS}", SERVER_POOLS, 600,
            prepare=lambda repo=repo, names=names: flavour.prepare_models(repo, names, write_engine)))
    return checks


def labels(precision: str, chunk_rows: int, device: str, runtime: str, backend: str = "python") -> dict[str, str]:
    import torch
    import torchvision
    chunk = f"; a single request of a multiple of {chunk_rows} images in chunks of {chunk_rows} (host copy overlaps GPU work)" \
        if chunk_rows else ""
    engine = (f"PyTorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: torchvision {torchvision.__version__} "
              f"resnet50, channels-last, cuDNN, one CUDA graph per batch size 1-128 (dynamic batches padded to the next)"
              f"{chunk}; no torch.compile; seeded weights (fitted head)")
    if backend == flavour.NATIVE:
        engine = (f"libtorch {torch.__version__} CUDA {torch.version.cuda}, not TensorRT: native C++ backend (repro_torch); "
                  f"TorchScript traced from the same torchvision {torchvision.__version__} resnet50, channels-last, cuDNN, "
                  "one CUDA graph per batch size 1-128 (requests the dynamic batcher joins run as one batch, padded to the "
                  f"next graph){chunk.replace('host copy', 'copy')}; inputs copied from the client's registered "
                  "shared-memory region; no torch.compile; seeded weights (fitted head)")
    return {"engine": engine, "precision": precision.upper(), "device": device, "runtime": runtime,
            "versions": f"torch {torch.__version__}; torchvision {torchvision.__version__}; Triton server {TRITON_VERSION}",
            "serving": "whole", "inputs": INPUTS_LABEL, "dtype": precision, "shared_memory": "system", "backend": backend}


def perf_groups(repos: Path, options: dict, runtime: str) -> list[ServedGroup]:
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible: the python-gpu flavour runs on a GPU host")
    root, device = repos / "resnet50", torch.cuda.get_device_name(0)

    def write_inputs(path: Path) -> None:
        from repro.families.imagenet.client import write_request_inputs
        write_request_inputs(host_images(root), path)

    groups = []
    for c in options["configs"]:
        for backend in flavour.backends(options):
            name = flavour.served_name(served_name(c["precision"], c["chunk_rows"]), backend)
            repo = root / "perf" / name
            groups.append(ServedGroup(name, repo, {name: labels(c["precision"], c["chunk_rows"], device, runtime, backend)},
                                      write_inputs, "system", SERVER_POOLS, 600,
                                      lambda repo=repo: read_model_stats(repo),
                                      lambda repo=repo, name=name: flavour.prepare_models(repo, [name], write_engine)))
    return groups
