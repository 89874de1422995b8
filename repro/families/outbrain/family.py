"""The Outbrain family (Wide & Deep, seed 002) behind the family interface (repro.families.base). Each
method is the family's side of one stage; TensorFlow loads only inside the methods that need it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from repro import atomic
from repro.cli import progress
from repro.errors import UserError
from repro.families.base import BackendChoice, ImageStep, RepoInputs, Section, TrainParams
from repro.families.outbrain import dataset
from repro.families.outbrain.features import MAP_AT, PRESETS
from repro.measure.labels import row_labels, versions
from repro.profiles.catalog import Profile
from repro.serving.plan import AccuracyCheck, ServedGroup


class DataParams(Section):
    preset: Literal[tuple(PRESETS)]  # type: ignore[valid-type]  # tiny (tests) | small (cpu) | full (upstream buckets)


class ConvertParams(Section):
    onnx_opset: int = Field(gt=0)
    onnx_max_abs_diff: float = Field(ge=0)     # gate: ONNX Runtime vs TensorFlow on the output (upstream atol 0.015)
    check_samples: int = Field(gt=0)           # validation samples the parity check and the engine timing run
    trt_shapes: dict[Literal["min", "opt", "max"], int]   # trtexec min / opt / max batch of the TensorRT engine


class AccuracyParams(Section):
    map_tolerance: float = Field(ge=0)         # |MAP@12(served) - MAP@12(TensorFlow)| must stay below this
    batch_size: int = Field(gt=0)


class GpuConfig(Section):
    """One measured configuration of the python-gpu flavour."""
    precision: Literal["fp32", "fp16"]
    inputs: Literal["none", "system"] = "none"   # none: in the gRPC request | system: client system shared memory


class ServingParams(BackendChoice):
    """``profiles.<profile>.serving.outbrain``."""
    flavour: Literal["python-cpu", "python-gpu", "container", "none"]   # none: not served on this profile
    engine: Optional[Literal["onnxruntime", "tensorflow"]] = None   # python-cpu: the whole model's engine
    seed: Optional[int] = Field(default=None, gt=0)                 # python-gpu: weights generated on the host
    configs: list[GpuConfig] = []                                   # python-gpu: one repository (server) each
    fp32_matmul: Optional[Literal["ieee", "tf32"]] = None
    input_samples: Optional[int] = Field(default=None, gt=0)        # python-gpu: perf_analyzer input entries
    gate_samples: Optional[int] = Field(default=None, gt=0)         # python-gpu: validation samples of the gate
    hardware: Optional[dict[str, float]] = None                     # python-gpu: nominal peaks (physical limits)

    @model_validator(mode="after")
    def options_of_the_flavour(self) -> "ServingParams":
        if (self.flavour == "python-cpu") != (self.engine is not None):
            raise ValueError("the python-cpu flavour needs 'engine' (onnxruntime | tensorflow); other flavours take none")
        gpu = ("seed", "fp32_matmul", "input_samples", "gate_samples", "hardware")
        missing = [k for k in gpu if getattr(self, k) is None] + ([] if self.configs else ["configs"])
        if self.flavour == "python-gpu" and missing:
            raise ValueError(f"the python-gpu flavour needs {', '.join(missing)}")
        if self.flavour != "python-gpu" and (self.configs or any(getattr(self, k) is not None for k in gpu)):
            raise ValueError(f"the {self.flavour} flavour takes none of the python-gpu options")
        return self


class OutbrainParams:
    data, train, convert, accuracy, serving = DataParams, TrainParams, ConvertParams, AccuracyParams, ServingParams


ENGINES = {"onnxruntime": "ONNX Runtime {onnxruntime} CPU, whole model (python backend)",
           "tensorflow": "TensorFlow {tensorflow} CPU SavedModel, whole model (python backend)"}


class Outbrain:
    name = "outbrain"
    models = ("widedeep",)
    display_names = {"widedeep": "Wide & Deep"}
    table_style = "widedeep"
    scenarios = ("offline", "online")
    score_name = f"MAP@{MAP_AT}"
    reference_metric = "valid_map12_tf"
    params = OutbrainParams
    native_comparison: dict[str, str] = {}

    def size_label(self, params: dict) -> str:
        return f"{params['data'][self.name]['preset']} preset"

    def published_counterpart(self, table: str) -> dict:
        """Which published tables a measured table sits beside (results/published/index.csv columns)."""
        return {"source": "002_7c910ab60ccdc04e.txt", "model": "Wide & Deep"}

    def synthesize(self, params: dict, out: Path) -> str:
        preset = PRESETS[params["data"][self.name]["preset"]]
        buckets = preset.buckets()
        progress("data", f"outbrain: preset {preset.name}: {preset.train_displays} + {preset.valid_displays} displays, "
                         f"{len(buckets)} categorical features, {sum(buckets.values()):,} hash buckets")
        dataset.write_dataset(out, dataset.make_dataset(params["seed"], preset), preset)
        dataset.read_split(out, "valid")  # the reader must accept what was written
        return f"preset {preset.name}"

    def train(self, model: str, data: Path, params: dict, out: Path) -> dict:
        from repro.families.outbrain import model as wd, training  # TensorFlow loads only here
        from repro.families.tf_common import configure_determinism
        cfg, seed = params["train"][self.name], params["seed"]
        configure_determinism(seed, params["train"]["threads"])
        schema = dataset.load_schema(data)
        train_split, valid = dataset.read_split(data, "train"), dataset.read_split(data, "valid")
        config = training.TrainConfig(cfg["epochs"], cfg["batch_size"], cfg["learning_rate"], seed)
        progress("train", f"{model}: {len(train_split)} samples, {config.epochs} epoch(s), batch {config.batch_size}")
        weights, losses = training.train(wd.init_weights(schema["buckets"], seed), train_split, config)
        score = training.evaluate(weights, valid)
        progress("train", f"{model}: validation MAP@{MAP_AT} (TensorFlow) {score:.5f}")
        if not (np.isfinite(score) and np.isfinite(losses[-1])):
            raise UserError(f"training {model} diverged (final loss {losses[-1]}, MAP@{MAP_AT} {score}); lower params.yaml "
                            f"'train.{self.name}.learning_rate' ({cfg['learning_rate']}); nothing was written")
        with atomic.replace_dir(out) as staging:
            training.write_checkpoint(staging, weights, schema["buckets"])
        return {"model": model, self.reference_metric: round(score, 6), "final_loss": round(losses[-1], 6),
                "steps": len(losses), "valid_samples": len(valid), "parameters": int(sum(w.size for w in weights.values()))}

    def convert(self, model: str, checkpoint: Path, data: Path, params: dict, out: Path) -> dict:
        from repro.families.outbrain import export, training
        from repro.families.tf_common import configure_determinism
        cfg, threads = params["convert"][self.name], params["train"]["threads"]
        configure_determinism(params["seed"], threads)
        weights, _ = training.read_checkpoint(checkpoint)
        sample = dataset.read_split(data, "valid").rows(0, cfg["check_samples"]).inputs
        with atomic.replace_dir(out) as staging:
            progress("convert", f"{model}: TF SavedModel (29 named inputs -> {export.OUTPUT})")
            module = export.save_savedmodel(weights, staging / "savedmodel")
            progress("convert", f"{model}: SavedModel -> ONNX (opset {cfg['onnx_opset']}) via tf2onnx")
            export.export_onnx(module, staging / "model.onnx", cfg["onnx_opset"])
            diff = export.onnx_max_abs_diff(module, staging / "model.onnx", sample, threads)
            progress("convert", f"{model}: ONNX Runtime vs TensorFlow max abs diff {diff:.3g} "
                                f"(gate {cfg['onnx_max_abs_diff']:g}; upstream's atol 0.015)")
            if not diff <= cfg["onnx_max_abs_diff"]:  # NaN fails too
                raise UserError(f"ONNX Wide & Deep differs from TensorFlow by {diff:.3g} > params.yaml "
                                f"'convert.{self.name}.onnx_max_abs_diff' ({cfg['onnx_max_abs_diff']:g}); nothing was written")
            rates = export.engine_throughput(module, staging / "model.onnx", sample, threads)
            progress("convert", f"{model}: in-process cpu engines at batch {cfg['check_samples']}, {threads} threads: "
                                + ", ".join(f"{k} {v:,.0f} samples/s" for k, v in rates.items()))
        return {"model": model, "onnx_vs_tf_max_abs_diff": diff, "onnx_check_samples": cfg["check_samples"],
                "onnx_opset": cfg["onnx_opset"], "cpu_engines_samples_per_s": rates,
                "cpu_engines_note": f"in-process, batch {cfg['check_samples']}, {threads} threads, best of 5 (timing: not "
                                    "byte-stable; the engine choice is params.yaml's profiles.<p>.serving.outbrain.engine)"}

    def engine_command(self, model: str, converted: Path, plan: Path, params: dict) -> list[str]:
        from repro.families.outbrain.repository import trtexec_command
        return trtexec_command(converted / "model.onnx", plan, params["convert"][self.name]["trt_shapes"],
                               params["convert"]["precision"] == "fp16")

    # ---- serving flavours: profiles.<profile>.serving.outbrain.flavour ----

    def write_repositories(self, model: str, inputs: RepoInputs, params: dict, profile: Profile, out: Path) -> dict:
        from repro.families.outbrain import repository
        if not (inputs.converted / "model.onnx").exists():
            raise UserError(f"{inputs.converted}/model.onnx is missing; run `dvc repro convert@{model}`.")
        serving, perf = profile.serving(self.name), profile.perf_for(self.name)
        batches = tuple(sorted(set(perf["batch_sizes"]) | ({perf["online"]["batch_size"]} if perf.get("online") else set())))
        if serving["flavour"] == "container":
            return {"container": repository.write_container_repo(out, inputs.converted, batches)}
        if serving["flavour"] == "python-gpu":
            from repro.families.outbrain import gpu_flavour
            return gpu_flavour.write_repositories(inputs.converted, inputs.data, serving, perf,
                                                  params["accuracy"][self.name]["batch_size"], out)
        settings = repository.LocalSettings(serving["engine"], perf["max_batch_size"], perf["max_batch_size"],
                                            profile.repos["instances"], profile.instance_kind, params["train"]["threads"])
        return {"local": repository.write_local_repo(out / "local", inputs.converted, settings),
                "container": repository.write_container_repo(out / "container", inputs.converted, batches)}

    def container_steps(self, model: str, params: dict, profile: Profile, repo: Path) -> list[ImageStep]:
        from repro.families.outbrain.repository import container_trtexec
        return [ImageStep("engine", f"{model}: TensorRT FP16 engine of widedeep_trt (29 inputs)",
                          container_trtexec(repo, params["convert"][self.name]["trt_shapes"]))]

    def container_served(self, model: str) -> list[str]:
        return ["widedeep_tf", "widedeep_trt"]

    def container_server_env(self) -> dict[str, str]:
        return {}

    def accuracy_checks(self, model: str, repos: Path, data: Path, reference: dict, params: dict,
                        profile: Profile) -> list[AccuracyCheck]:
        serving, cfg = profile.serving(self.name), params["accuracy"][self.name]
        split = data / self.name
        if serving["flavour"] == "python-gpu":
            from repro.families.outbrain import gpu_flavour
            return gpu_flavour.accuracy_checks(repos, serving, cfg["map_tolerance"], cfg["batch_size"])
        if serving["flavour"] == "container":
            names, repository = self.container_served(model), repos
        else:
            from repro.families.outbrain.repository import served_name
            names, repository = [served_name(serving["engine"])], repos / "local"

        def score(url: str, served: str) -> float:
            from repro.families.outbrain.client import infer
            from repro.families.scores import map_at_k
            valid = dataset.read_split(split, "valid")
            return map_at_k(valid.display, valid.label, infer(url, served, valid, cfg["batch_size"]), MAP_AT)

        samples = len(dataset.read_split(split, "valid"))
        return [AccuracyCheck(repository, score, reference[self.reference_metric], cfg["map_tolerance"], samples,
                              {n: True for n in names}, self.score_name)]

    def perf_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        from repro.families.outbrain.repository import served_name
        serving = profile.serving(self.name)
        if serving["flavour"] == "python-gpu":
            from repro.families.outbrain import gpu_flavour
            from repro.measure.labels import runtime_label
            return gpu_flavour.perf_groups(repos, serving, runtime_label(profile))
        if serving["flavour"] != "python-cpu":
            raise UserError(f"profile {profile.name}: the {serving['flavour']} flavour of {model} is measured through "
                            "the container plan (make deploy-<gpu>), not by the local perf stage")
        name, found = served_name(serving["engine"]), versions()
        labels = {name: {**row_labels(profile, ENGINES[serving["engine"]].format(**found),
                                      params["convert"]["precision"], found), "serving": "whole",
                         "inputs": "gRPC payload (no shared memory)"}}
        # perf_analyzer 2.51 loses its profile export when this model's 29 inputs travel in system shared
        # memory (windows then come from its verbose report, but no per-request latencies: no p99 interval),
        # so the inputs travel in the gRPC request here (upstream: system shared memory) and every row says so.
        return [ServedGroup(model, repos / "local", labels, lambda path: self.write_request_inputs(data / self.name, path),
                            shared_memory="none")]

    def native_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        return []

    def report_sections(self, profile: Profile, perf: Path, params: dict, out: Path) -> list[str]:
        serving = profile.serving(self.name)
        if serving["flavour"] != "python-gpu":
            return []
        from repro.families.outbrain.gpu_report import sections
        return sections(perf, serving)

    def write_request_inputs(self, data: Path, path: Path) -> None:
        from repro.families.outbrain.client import write_request_inputs
        write_request_inputs(dataset.read_split(data, "valid"), path)


OUTBRAIN = Outbrain()
