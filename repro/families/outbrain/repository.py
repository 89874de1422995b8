"""Triton model repositories of Wide & Deep.

python-cpu  ``widedeep_<engine>``: the whole model in the python backend (ONNX Runtime or TensorFlow on the
            CPU), dynamic batching with the profile's preferred batch.
container   upstream's two served formats (``triton/runner/config_NVIDIA-*.yaml``), 2 GPU instances, max
            batch 131072, dynamic batching with preferred batch 131072:
            ``widedeep_tf``   tensorflow_savedmodel with the auto_mixed_precision accelerator (FP32 tables);
            ``widedeep_trt``  tensorrt FP16 with CUDA graphs for the swept batches; ``onnx/model.onnx`` is
                              what trtexec builds ``1/model.plan`` from inside the TensorRT image.
Inputs everywhere: the 29 features, numericals FP32 [1], one-hots INT32 [1], multi-hots INT32 [3];
output ``wide_deep_model`` FP32 [1].
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from repro.families.criteo.repository import link_tree, write_config
from repro.families.whole_model import LocalSettings, write_whole_model
from repro.families.outbrain.features import INPUTS, OUTPUT, input_dtype, input_width
from repro.serving import model_config as mcfg
from repro.serving.model_config import Tensor

CONTAINER_MAX_BATCH = 131072   # upstream's max_batch_size (and preferred batch)
CONTAINER_INSTANCES = 2


def io() -> tuple[list[Tensor], list[Tensor]]:
    return [Tensor(name, input_dtype(name), (input_width(name),)) for name in INPUTS], [Tensor(OUTPUT, "FP32", (1,))]


def served_name(engine: str) -> str:
    return f"widedeep_{engine}"


def write_local_repo(repo: Path, converted: Path, s: LocalSettings) -> list[str]:
    source = resources.files("repro.families.outbrain.triton_models").joinpath("whole_model.py").read_text()
    filename, artifact = {"onnxruntime": ("model.onnx", converted / "model.onnx"),
                          "tensorflow": ("model.savedmodel", converted / "savedmodel")}[s.engine]
    return write_whole_model(repo, served_name(s.engine), s, io(), source, artifact, filename)


def write_container_repo(repo: Path, converted: Path, graph_batches: tuple[int, ...]) -> list[str]:
    inputs, outputs = io()
    tf_config = mcfg.tf_savedmodel("widedeep_tf", CONTAINER_MAX_BATCH, inputs, outputs, CONTAINER_INSTANCES,
                                   accelerator="auto_mixed_precision")
    trt_config = mcfg.tensorrt_dense("widedeep_trt", CONTAINER_MAX_BATCH, inputs, outputs[0], CONTAINER_INSTANCES,
                                     graph_batches)
    for config in (tf_config, trt_config):
        mcfg.add_dynamic_batching(config, [CONTAINER_MAX_BATCH])
        write_config(repo / config.name, config)
    link_tree(converted / "savedmodel", repo / "widedeep_tf" / "1" / "model.savedmodel")
    link_tree(converted / "model.onnx", repo / "widedeep_trt" / "onnx" / "model.onnx")
    return ["widedeep_tf", "widedeep_trt"]


def trtexec_command(onnx: Path, plan: Path, shapes: dict[str, int], fp16: bool) -> list[str]:
    """trtexec from the ONNX graph, every input's min / opt / max shape at the given batch sizes."""
    def shape(batch: int) -> str:
        return ",".join(f"{name}:{batch}x{input_width(name)}" for name in INPUTS)
    return ["trtexec", f"--onnx={onnx}", f"--saveEngine={plan}", "--buildOnly",
            *[f"--{k}Shapes={shape(shapes[k])}" for k in ("min", "opt", "max")], *(["--fp16"] if fp16 else [])]


def container_trtexec(repo: Path, shapes: dict[str, int]) -> list[str]:
    """widedeep_trt's FP16 engine (the published TensorRT precision), built in the TensorRT image."""
    model = repo / "widedeep_trt"
    return trtexec_command(model / "onnx" / "model.onnx", model / "1" / "model.plan", shapes, fp16=True)
