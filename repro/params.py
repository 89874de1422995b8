"""Load and validate params.yaml. Every error names the file, the field and the fix."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from repro.errors import UserError
from repro.families.criteo.presets import PRESETS
from repro.profiles.catalog import PROFILES


class ParamsError(UserError):
    pass


def require(params: dict, dotted: str) -> Any:
    node: Any = params
    for key in dotted.split("."):
        if not isinstance(node, dict) or key not in node:
            raise ParamsError(f"params.yaml: field '{dotted}' is missing; add it (see README 'Parameters').")
        node = node[key]
    return node


def positive_ints(params: dict, dotted: str) -> list[int]:
    values = require(params, dotted)
    values = values if isinstance(values, list) else [values]
    bad = [v for v in values if not isinstance(v, int) or isinstance(v, bool) or v <= 0]
    if bad or not values:
        raise ParamsError(f"params.yaml: field '{dotted}' must hold positive integers, got {bad or values}; fix the value.")
    return values


def non_negative(params: dict, dotted: str) -> float:
    value = require(params, dotted)
    if not isinstance(value, (int, float)) or value < 0:
        raise ParamsError(f"params.yaml: field '{dotted}' must be a number >= 0, got {value!r}; fix the value.")
    return float(value)


def one_of(params: dict, dotted: str, choices: list[str]) -> str:
    value = require(params, dotted)
    if value not in choices:
        raise ParamsError(f"params.yaml: field '{dotted}' is '{value}'; choose one of {sorted(choices)}.")
    return value


def validate(params: dict) -> dict:
    one_of(params, "profile", list(PROFILES))
    one_of(params, "data.preset", list(PRESETS))
    positive_ints(params, "seed")
    for model in require(params, "train.models"):
        one_of({"m": model}, "m", ["dlrm", "dcnv2"])
    positive_ints(params, "train.epochs")
    positive_ints(params, "train.batch_size")
    positive_ints(params, "train.threads")
    non_negative(params, "train.learning_rate")
    one_of(params, "convert.precision", ["fp32", "fp16"])
    non_negative(params, "convert.memory_threshold_gb")
    non_negative(params, "convert.onnx_max_abs_diff")
    non_negative(params, "convert.hps_gpucacheper")
    positive_ints(params, "repos.max_batch_size")
    positive_ints(params, "repos.instances")
    non_negative(params, "accuracy.auc_tolerance")
    positive_ints(params, "accuracy.batch_size")
    positive_ints(params, "perf.batch_sizes")
    positive_ints(params, "perf.concurrency")
    positive_ints(params, "perf.measurement_interval_ms")
    positive_ints(params, "perf.max_trials")
    non_negative(params, "perf.stability_percentage")
    non_negative(params, "perf.retries")
    positive_ints(params, "native.batch_sizes")
    for model in require(params, "native.models"):
        if model not in require(params, "train.models"):
            raise ParamsError(f"params.yaml: 'native.models' lists '{model}', which is not in 'train.models'.")
    too_big = [b for b in require(params, "perf.batch_sizes") + require(params, "native.batch_sizes")
               if b > require(params, "repos.max_batch_size")]
    if too_big:
        raise ParamsError(f"params.yaml: batch sizes {too_big} exceed 'repos.max_batch_size' "
                          f"({require(params, 'repos.max_batch_size')}); lower them or raise the maximum.")
    if "h100" in params:
        validate_h100(params)
    return params


H100_CHOICES = {"model": ["dlrm", "dcnv2"], "preset": list(PRESETS), "precision": ["fp32", "fp16"],
                "sparse": ["fused", "placement", "cache"], "serving": ["fused", "ensemble", "transport"]}
H100_OPTIONAL = {"inputs": ["system", "cuda"]}


def validate_h100(params: dict) -> None:
    positive_ints(params, "h100.seed")
    positive_ints(params, "h100.batch_sizes")
    non_negative(params, "h100.memory_threshold_gb")
    non_negative(params, "h100.gpucacheper")
    one_of(params, "h100.default_serving", ["fused", "ensemble"])
    one_of(params, "h100.fp32_matmul", ["ieee", "tf32"])
    non_negative(params, "h100.chunk_rows")
    for i, config in enumerate(require(params, "h100.configs")):
        if not isinstance(config, dict) or not set(H100_CHOICES) <= set(config) <= set(H100_CHOICES) | set(H100_OPTIONAL):
            raise ParamsError(f"params.yaml: 'h100.configs[{i}]' must have the keys {sorted(H100_CHOICES)} "
                              f"(and optionally {sorted(H100_OPTIONAL)}).")
        for key, choices in {**H100_CHOICES, **H100_OPTIONAL}.items():
            if key in config and config[key] not in choices:
                raise ParamsError(f"params.yaml: field 'h100.configs[{i}].{key}' is '{config[key]}'; "
                                  f"choose one of {sorted(choices)}.")
    for key in ("measurement_interval_ms", "max_trials", "input_samples"):
        positive_ints(params, f"h100.perf.{key}")
    for key in ("host_link_gbps", "memory_gbps", "fp16_tflops", "fp32_tflops", "tf32_tflops"):
        non_negative(params, f"h100.hardware.{key}")


def load_params(path: Path = Path("params.yaml")) -> dict:
    if not path.exists():
        raise ParamsError(f"{path} is missing; run from the repository root.")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc}).") from None
    return validate(params or {})
