"""Triton model configurations, written with Triton's own model_config protobuf (text_format
writes config.pbtxt; tests parse it back). One builder per kind of model; no string templates."""
from __future__ import annotations

from dataclasses import dataclass

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

NUM_TABLES, NUM_NUMERICAL = 26, 13


@dataclass(frozen=True)
class Tensor:
    name: str
    dtype: str   # model_config DataType name without TYPE_, e.g. "FP32"
    dims: tuple[int, ...]


CATEGORICAL = Tensor("categorical_features", "INT32", (NUM_TABLES,))
NUMERICAL = Tensor("numerical_features", "FP32", (NUM_NUMERICAL,))
OUTPUT = Tensor("output", "FP32", (1,))


def lookup_tensor(dim: int) -> Tensor:
    return Tensor("lookup_vectors", "FP32", (NUM_TABLES, dim))


def add_tensors(field, tensors: list[Tensor]) -> None:
    for t in tensors:
        field.add(name=t.name, data_type=mc.DataType.Value(f"TYPE_{t.dtype}"), dims=list(t.dims))


def base_config(name: str, max_batch_size: int, inputs: list[Tensor], outputs: list[Tensor]) -> mc.ModelConfig:
    config = mc.ModelConfig(name=name, max_batch_size=max_batch_size)
    add_tensors(config.input, inputs)
    add_tensors(config.output, outputs)
    return config


def add_instances(config: mc.ModelConfig, count: int, kind: str) -> None:
    group = config.instance_group.add(count=count, kind=mc.ModelInstanceGroup.Kind.Value(kind))
    if kind == "KIND_GPU":
        group.gpus.append(0)


def python_model(name: str, max_batch_size: int, inputs: list[Tensor], outputs: list[Tensor], instances: int,
                 kind: str, parameters: dict[str, str]) -> mc.ModelConfig:
    config = base_config(name, max_batch_size, inputs, outputs)
    config.backend = "python"
    add_instances(config, instances, kind)
    for key, value in sorted(parameters.items()):
        config.parameters[key].string_value = value
    return config


def tf_savedmodel(name: str, max_batch_size: int, inputs: list[Tensor], outputs: list[Tensor],
                  instances: int, accelerator: str = "gpu_io") -> mc.ModelConfig:
    """An upstream TF SavedModel on the GPU: tensorflow_savedmodel with a GPU execution accelerator (the
    DLRM sparse submodel: gpu_io; W&D: auto_mixed_precision, the published "Automatic FP16")."""
    config = base_config(name, max_batch_size, inputs, outputs)
    config.platform = "tensorflow_savedmodel"
    config.optimization.execution_accelerators.gpu_execution_accelerator.add(name=accelerator)
    add_instances(config, instances, "KIND_GPU")
    return config


def hps_sparse(name: str, max_batch_size: int, instances: int) -> mc.ModelConfig:
    """Upstream HPS sparse submodel (backend "hps"; its parameter-server JSON is passed at server start)."""
    config = base_config(name, max_batch_size, [Tensor("KEYS", "INT64", (-1,)), Tensor("NUMKEYS", "INT32", (-1,))],
                         [Tensor("OUTPUT0", "FP32", (-1,))])
    config.backend = "hps"
    add_instances(config, instances, "KIND_GPU")
    return config


def tensorrt_dense(name: str, max_batch_size: int, inputs: list[Tensor], output: Tensor, instances: int,
                   graph_batches: tuple[int, ...], flat_widths: dict[str, int] | None = None) -> mc.ModelConfig:
    """Upstream dense submodel: a TensorRT engine with CUDA graphs captured for ``graph_batches`` (without a
    graph_spec the backend captures only a few small batches plus the maximum and uses them on an exact
    match). A model without batching (max_batch_size 0) takes flat inputs: ``flat_widths`` gives each
    input's values per sample, so each graph names its full input shapes."""
    config = base_config(name, max_batch_size, inputs, [output])
    config.backend = "tensorrt"
    config.optimization.cuda.graphs = True
    for batch in graph_batches:
        spec = config.optimization.cuda.graph_spec.add()
        if max_batch_size:
            spec.batch_size = batch
            for t in inputs:
                spec.input[t.name].dim.extend(t.dims)
        else:
            for t in inputs:
                spec.input[t.name].dim.append(batch * (flat_widths or {})[t.name])
    add_instances(config, instances, "KIND_GPU")
    return config


def add_dynamic_batching(config: mc.ModelConfig, preferred: list[int], max_queue_delay_us: int = 0) -> None:
    """Server-side batching of concurrent requests (the online tables), preferring ``preferred`` batches."""
    config.dynamic_batching.preferred_batch_size.extend(preferred)
    config.dynamic_batching.max_queue_delay_microseconds = max_queue_delay_us


def ensemble(name: str, max_batch_size: int, inputs: list[Tensor], outputs: list[Tensor],
             steps: list[tuple[str, dict[str, str], dict[str, str]]]) -> mc.ModelConfig:
    """steps: (model name, {model input: ensemble tensor}, {model output: ensemble tensor})."""
    config = base_config(name, max_batch_size, inputs, outputs)
    config.platform = "ensemble"
    for model_name, input_map, output_map in steps:
        step = config.ensemble_scheduling.step.add(model_name=model_name, model_version=-1)
        step.input_map.update(input_map)
        step.output_map.update(output_map)
    return config


def to_pbtxt(config: mc.ModelConfig) -> str:
    return text_format.MessageToString(config)


def from_pbtxt(text: str) -> mc.ModelConfig:
    return text_format.Parse(text, mc.ModelConfig())
