"""Triton model repositories of ResNet50.

python-cpu  ``resnet50_<engine>``: the whole model in the python backend on the CPU (TorchScript by PyTorch,
            or ONNX by ONNX Runtime), dynamic batching with the profile's preferred batch.
container   the published configuration (seed 003, upstream's ``triton/`` deployment): the ONNX graph on the
            onnxruntime backend with the TensorRT accelerator in FP16 (the server runs with
            ``ORT_TENSORRT_FP16_ENABLE=1``), max batch 128, one GPU instance, dynamic batching with preferred
            batch 128 and no queue delay:
            ``resnet50_onnxrt_trt``  onnxruntime_onnx + TensorRT execution accelerator, FP16 (published)
            ``resnet50_trt``         a TensorRT FP16 plan that trtexec builds from ``onnx/model.onnx`` inside the
                                     TensorRT image (upstream's ``trt`` format)
I/O: ``INPUT__0`` FP32 [3, 224, 224] -> ``OUTPUT__0`` FP32 [1000].
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from repro.families.criteo.repository import link_tree, write_config
from repro.families.whole_model import LocalSettings, write_whole_model
from repro.families.imagenet.dataset import NUM_CLASSES, SIZE
from repro.families.imagenet.export import FORMATS, INPUT, OUTPUT
from repro.serving import model_config as mcfg
from repro.serving.model_config import Tensor

CONTAINER_MAX_BATCH = 128      # upstream's max_batch_size and preferred batch
CONTAINER_SERVER_ENV = {"ORT_TENSORRT_FP16_ENABLE": "1"}
ENGINE_FILES = {"torchscript": ("model.pt", FORMATS["ts-trace"]), "onnxruntime": ("model.onnx", FORMATS["onnx"])}


def io() -> tuple[list[Tensor], list[Tensor]]:
    return [Tensor(INPUT, "FP32", (3, SIZE, SIZE))], [Tensor(OUTPUT, "FP32", (NUM_CLASSES,))]


def served_name(engine: str) -> str:
    return f"resnet50_{engine}"


def write_local_repo(repo: Path, converted: Path, s: LocalSettings) -> list[str]:
    source = resources.files("repro.families.imagenet.triton_models").joinpath("classifier.py").read_text()
    filename, converted_file = ENGINE_FILES[s.engine]
    return write_whole_model(repo, served_name(s.engine), s, io(), source, converted / converted_file, filename)


def onnxruntime_trt(name: str) -> "mcfg.mc.ModelConfig":
    inputs, outputs = io()
    config = mcfg.base_config(name, CONTAINER_MAX_BATCH, inputs, outputs)
    config.platform = "onnxruntime_onnx"
    accelerator = config.optimization.execution_accelerators.gpu_execution_accelerator.add(name="tensorrt")
    accelerator.parameters["precision_mode"] = "FP16"
    mcfg.add_instances(config, 1, "KIND_GPU")
    return config


def tensorrt_plan(name: str) -> "mcfg.mc.ModelConfig":
    inputs, outputs = io()
    config = mcfg.base_config(name, CONTAINER_MAX_BATCH, inputs, outputs)
    config.backend = "tensorrt"
    mcfg.add_instances(config, 1, "KIND_GPU")
    return config


def write_container_repo(repo: Path, converted: Path) -> list[str]:
    ort_trt, plan = onnxruntime_trt("resnet50_onnxrt_trt"), tensorrt_plan("resnet50_trt")
    for config in (ort_trt, plan):
        mcfg.add_dynamic_batching(config, [CONTAINER_MAX_BATCH])
        write_config(repo / config.name, config)
    link_tree(converted / FORMATS["onnx"], repo / "resnet50_onnxrt_trt" / "1" / "model.onnx")
    link_tree(converted / FORMATS["onnx"], repo / "resnet50_trt" / "onnx" / "model.onnx")
    return ["resnet50_onnxrt_trt", "resnet50_trt"]


def trtexec_command(onnx: Path, plan: Path, shapes: dict[str, int], fp16: bool = True) -> list[str]:
    """trtexec from the ONNX graph: explicit batch, min / opt / max batch profile, FP16 layers (upstream's
    ``trt`` format also makes its input and output FP16; here they stay FP32, the I/O every other served
    format of this repository declares)."""
    def shape(batch: int) -> str:
        return f"{INPUT}:{batch}x3x{SIZE}x{SIZE}"
    return ["trtexec", f"--onnx={onnx}", f"--saveEngine={plan}", "--buildOnly",
            *[f"--{k}Shapes={shape(shapes[k])}" for k in ("min", "opt", "max")],
            *(["--fp16"] if fp16 else [])]


def container_trtexec(repo: Path, shapes: dict[str, int]) -> list[str]:
    model = repo / "resnet50_trt"
    return trtexec_command(model / "onnx" / "model.onnx", model / "1" / "model.plan", shapes)
