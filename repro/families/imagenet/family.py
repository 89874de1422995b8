"""The ImageNet family (ResNet50 v1.5, seed 003) behind the family interface (repro.families.base): the
first PyTorch family. Each method is the family's side of one stage; PyTorch loads only inside them."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import numpy as np
from pydantic import Field, model_validator

from repro import atomic
from repro.cli import progress
from repro.errors import UserError
from repro.families.base import BackendChoice, ImageStep, RepoInputs, Section
from repro.families.imagenet import dataset
from repro.measure.labels import row_labels, versions
from repro.profiles.catalog import Profile
from repro.serving.plan import AccuracyCheck, ServedGroup

SEEDED = "seeded torchvision weights"
WEIGHTS = f"{SEEDED}, BatchNorm statistics and classifier fitted to the synthetic images (not NGC's)"


class DataParams(Section):
    preset: Literal[tuple(dataset.PRESETS)]  # type: ignore[valid-type]  # tiny (tests) | small (cpu default)


class TrainParams(Section):
    batch_size: int = Field(gt=0)              # images per forward pass of the fit
    ridge: float = Field(gt=0)                 # classifier fit: ridge strength relative to the features' scale


class ConvertParams(Section):
    onnx_opset: int = Field(gt=0)              # upstream: 11
    max_logit_diff: float = Field(ge=0)        # gate: every format vs PyTorch eager, largest |logit difference|
    check_samples: int = Field(gt=0)           # validation images of that check and of the in-process engine timing
    trt_shapes: dict[Literal["min", "opt", "max"], int]   # trtexec min / opt / max batch (upstream: 1 / max / max)


class AccuracyParams(Section):
    min_top1_agreement: dict[Literal["fp32", "fp16"], float]   # served vs framework argmax (issue: 99.9% / 99%)
    batch_size: int = Field(gt=0)

    @model_validator(mode="after")
    def fractions(self) -> "AccuracyParams":
        if not all(0 < v <= 1 for v in self.min_top1_agreement.values()) or set(self.min_top1_agreement) != {"fp32", "fp16"}:
            raise ValueError("min_top1_agreement needs fp32 and fp16, each a fraction in (0, 1]")
        return self


class GpuConfig(Section):
    """One measured configuration of the python-gpu flavour (one repository, one server start)."""
    precision: Literal["fp32", "fp16"]
    chunk_rows: int = Field(default=0, ge=0)   # a single request of a multiple of this runs in chunks (0: off)


class ServingParams(BackendChoice):
    """``profiles.<profile>.serving.imagenet``."""
    flavour: Literal["python-cpu", "python-gpu", "container", "none"]
    engine: Optional[Literal["torchscript", "onnxruntime"]] = None   # python-cpu: chosen by the convert report's timing
    configs: list[GpuConfig] = []                                    # python-gpu
    gate_samples: Optional[int] = Field(default=None, gt=0)          # python-gpu: validation images of the gate
    host_link_gbps: Optional[float] = Field(default=None, gt=0)      # python-gpu: nominal host link (the bytes' cost)

    @model_validator(mode="after")
    def options_of_the_flavour(self) -> "ServingParams":
        if (self.flavour == "python-cpu") != (self.engine is not None):
            raise ValueError("the python-cpu flavour needs 'engine' (torchscript | onnxruntime); other flavours take none")
        gpu = self.flavour == "python-gpu"
        if gpu and (not self.configs or self.gate_samples is None or self.host_link_gbps is None):
            raise ValueError("the python-gpu flavour needs 'configs', 'gate_samples' and 'host_link_gbps'")
        if not gpu and (self.configs or self.gate_samples is not None or self.host_link_gbps is not None):
            raise ValueError(f"the {self.flavour} flavour takes none of the python-gpu options (configs, gate_samples, "
                             "host_link_gbps)")
        return self


class ImagenetParams:
    data, train, convert, accuracy, serving = DataParams, TrainParams, ConvertParams, AccuracyParams, ServingParams


ENGINES = {"torchscript": "PyTorch {torch} CPU, TorchScript (ts-trace), whole model (python backend); seeded weights",
           "onnxruntime": "ONNX Runtime {onnxruntime} CPU, ONNX opset 11, whole model (python backend); seeded weights"}


class Imagenet:
    name = "imagenet"
    models = ("resnet50",)
    display_names = {"resnet50": "ResNet50 v1.5"}
    table_style = "resnet"              # resnet_offline | resnet_online by scenario
    scenarios = ("offline", "online")
    score_name = "top-1 agreement"
    reference_metric = "valid_top1_torch"
    params = ImagenetParams
    native_comparison: dict[str, str] = {}

    def size_label(self, params: dict) -> str:
        return f"{params['data'][self.name]['preset']} preset ({SEEDED})"

    def published_counterpart(self, table: str) -> dict:
        return {"source": "003_5151f75731d8b407.txt", "model": "ResNet50 v1.5"}

    def synthesize(self, params: dict, out: Path) -> str:
        preset = dataset.PRESETS[params["data"][self.name]["preset"]]
        progress("data", f"imagenet: preset {preset.name}: {preset.classes} classes, {preset.classes * preset.train_per_class} "
                         f"train + {preset.valid} valid images of {dataset.SIZE}x{dataset.SIZE}")
        dataset.write_dataset(out, dataset.make_dataset(params["seed"], preset), preset)
        dataset.read_split(out, "valid")
        return f"preset {preset.name}"

    def train(self, model: str, data: Path, params: dict, out: Path) -> dict:
        import torch
        from repro.families.imagenet import model as resnet
        cfg, seed = params["train"][self.name], params["seed"]
        torch.set_num_threads(params["train"]["threads"])
        train_split, valid = dataset.read_split(data, "train"), dataset.read_split(data, "valid")
        progress("train", f"{model}: seeded torchvision resnet50; fitting BatchNorm statistics and the classifier "
                          f"on {len(train_split)} images (float64, 2 passes)")
        state = resnet.fit(seed, train_split, cfg["batch_size"], cfg["ridge"], lambda m: progress("train", f"{model}: {m}"))
        if not all(bool(torch.isfinite(v).all()) for v in state.values() if v.is_floating_point()):
            raise UserError(f"fitting {model} gave NaN or inf weights; raise params.yaml 'train.{self.name}.ridge' "
                            f"({cfg['ridge']}); nothing was written")
        with atomic.replace_dir(out) as staging:
            resnet.write_checkpoint(staging, state)
        logits = resnet.logits(resnet.from_state(state), valid.images)
        top1 = float(np.mean(logits.argmax(1) == valid.labels))
        progress("train", f"{model}: validation top-1 (PyTorch FP32) {top1:.4f} over {len(valid)} images "
                          f"({len(set(valid.labels.tolist()))} classes)")
        return {"model": model, self.reference_metric: round(top1, 6), "valid_samples": len(valid),
                "weights": WEIGHTS, "seeded_digest": resnet.seeded_digest(state),
                "parameters": int(sum(v.numel() for k, v in state.items() if "running" not in k and "num_batches" not in k))}

    def convert(self, model: str, checkpoint: Path, data: Path, params: dict, out: Path) -> dict:
        import torch
        from repro.families.imagenet import export, model as resnet
        cfg, threads = params["convert"][self.name], params["train"]["threads"]
        torch.set_num_threads(threads)
        net = resnet.load(checkpoint)
        images = dataset.read_split(data, "valid").images[:cfg["check_samples"]]
        x = dataset.normalise(images)
        reference = resnet.logits(net, images)
        with atomic.replace_dir(out) as staging:
            progress("convert", f"{model}: TorchScript (trace and script)")
            export.export_torchscript(net, torch.from_numpy(x[:1]), checkpoint, staging)
            progress("convert", f"{model}: ONNX opset {cfg['onnx_opset']} (dynamic batch, constant folding, onnx.checker)")
            export.export_onnx(net, torch.from_numpy(x[:1]), staging, cfg["onnx_opset"])
            checks = export.check_formats(staging, x, reference, threads)
            for name, p in checks.items():
                progress("convert", f"{model}: {name} vs PyTorch on {len(x)} images: max |logit diff| {p.max_abs_diff:.3g}, "
                                    f"top-1 agreement {p.top1_agreement:.4f} (gate {cfg['max_logit_diff']:g} and 1.0)")
            failed = [n for n, p in checks.items() if not (p.max_abs_diff <= cfg["max_logit_diff"] and p.top1_agreement == 1.0)]
            if failed:
                raise UserError(f"{model}: {', '.join(failed)} differ from PyTorch beyond params.yaml "
                                f"'convert.{self.name}.max_logit_diff' ({cfg['max_logit_diff']:g}) or in a top-1 class; "
                                "nothing was written")
            rates = export.engine_throughput(staging, x, threads)
            progress("convert", f"{model}: in-process cpu engines at batch {len(x)}, {threads} threads: "
                                + ", ".join(f"{k} {v:,.1f} images/s" for k, v in rates.items()))
        return {"model": model, "formats": export.FORMATS, "onnx_opset": cfg["onnx_opset"], "check_samples": len(x),
                "parity_vs_pytorch": {n: {"max_abs_logit_diff": p.max_abs_diff, "top1_agreement": p.top1_agreement}
                                      for n, p in checks.items()},
                "cpu_engines_images_per_s": rates,
                "cpu_engines_note": f"in-process, batch {len(x)}, {threads} threads, best of 3 (timing: not byte-stable; "
                                    "the engine choice is params.yaml's profiles.<p>.serving.imagenet.engine)"}

    def engine_command(self, model: str, converted: Path, plan: Path, params: dict) -> list[str]:
        from repro.families.imagenet.export import FORMATS
        from repro.families.imagenet.repository import trtexec_command
        return trtexec_command(converted / FORMATS["onnx"], plan, params["convert"][self.name]["trt_shapes"],
                               params["convert"]["precision"] == "fp16")

    # ---- serving flavours: profiles.<profile>.serving.imagenet.flavour ----

    def write_repositories(self, model: str, inputs: RepoInputs, params: dict, profile: Profile, out: Path) -> dict:
        from repro.families.criteo.repository import link_tree
        from repro.families.imagenet import repository
        from repro.families.imagenet.model import CHECKPOINT
        if not (inputs.converted / "onnx" / "model.onnx").exists():
            raise UserError(f"{inputs.converted}/onnx/model.onnx is missing; run `dvc repro convert@{model}`.")
        serving, perf = profile.serving(self.name), profile.perf_for(self.name)
        if serving["flavour"] == "container":
            return {"container": repository.write_container_repo(out, inputs.converted)}
        if serving["flavour"] == "python-gpu":
            from repro.families.imagenet import gpu_flavour
            return gpu_flavour.write_repositories(inputs, params, serving, perf, out)
        settings = repository.LocalSettings(serving["engine"], perf["max_batch_size"], perf["max_batch_size"],
                                            profile.repos["instances"], profile.instance_kind, params["train"]["threads"])
        link_tree(inputs.checkpoint / CHECKPOINT, out / "framework" / model / CHECKPOINT)   # what the gate compares with
        return {"local": repository.write_local_repo(out / "local", inputs.converted, settings),
                "container": repository.write_container_repo(out / "container", inputs.converted)}

    def container_steps(self, model: str, params: dict, profile: Profile, repo: Path) -> list[ImageStep]:
        from repro.families.imagenet.repository import container_trtexec
        return [ImageStep("engine", f"{model}: TensorRT FP16 plan of resnet50_trt (from ONNX opset 11)",
                          container_trtexec(repo, params["convert"][self.name]["trt_shapes"]))]

    def container_served(self, model: str) -> list[str]:
        return ["resnet50_onnxrt_trt", "resnet50_trt"]

    def container_server_env(self) -> dict[str, str]:
        from repro.families.imagenet.repository import CONTAINER_SERVER_ENV
        return CONTAINER_SERVER_ENV

    def accuracy_checks(self, model: str, repos: Path, data: Path, reference: dict, params: dict,
                        profile: Profile) -> list[AccuracyCheck]:
        serving, cfg = profile.serving(self.name), params["accuracy"][self.name]
        if serving["flavour"] == "python-gpu":
            from repro.families.imagenet import gpu_flavour
            return gpu_flavour.accuracy_checks(repos, cfg, serving, profile.perf_for(self.name)["max_batch_size"])
        if serving["flavour"] != "python-cpu":
            raise UserError(f"profile {profile.name}: the {serving['flavour']} flavour of {model} is checked through the "
                            "container plan (make deploy-<gpu>), not by the local accuracy stage")
        from repro.families.imagenet import model as resnet
        from repro.families.imagenet.repository import served_name
        valid = dataset.read_split(data / self.name, "valid")
        progress("accuracy", f"{model}: framework logits (PyTorch eager FP32) of {len(valid)} validation images")
        framework = resnet.logits(resnet.load(repos / "framework" / model), valid.images)
        precision = params["convert"]["precision"]
        minimum = cfg["min_top1_agreement"][precision]

        def score(url: str, served: str) -> tuple[float, dict]:
            from repro.families.imagenet.client import infer
            return top1_agreement(framework, infer(url, served, valid.images, cfg["batch_size"]), valid.labels)

        note = (f"{self.score_name}: share of validation images whose served top-1 class equals PyTorch's "
                f"(gate: at least {minimum:.1%} in {precision.upper()}); {WEIGHTS}")
        return [AccuracyCheck(repos / "local", score, 1.0, round(1.0 - minimum, 6), len(valid),
                              {served_name(serving["engine"]): True}, self.score_name, note)]

    def perf_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        from repro.families.imagenet.repository import served_name
        serving = profile.serving(self.name)
        if serving["flavour"] == "python-gpu":
            from repro.families.imagenet import gpu_flavour
            from repro.measure.labels import runtime_label
            return gpu_flavour.perf_groups(repos, serving, runtime_label(profile))
        if serving["flavour"] != "python-cpu":
            raise UserError(f"profile {profile.name}: the {serving['flavour']} flavour of {model} is measured through "
                            "the container plan (make deploy-<gpu>), not by the local perf stage")
        name, found = served_name(serving["engine"]), versions()
        if serving["engine"] == "torchscript":
            from importlib.metadata import version
            found["torch"] = version("torch")
        labels = {name: {**row_labels(profile, ENGINES[serving["engine"]].format(**found),
                                      params["convert"]["precision"], found), "serving": "whole",
                         "inputs": "client system shared memory (upstream: HTTP payload, random data)"}}

        def write_inputs(path: Path) -> None:
            from repro.families.imagenet.client import write_request_inputs
            write_request_inputs(dataset.read_split(data / self.name, "valid"), path)
        return [ServedGroup(model, repos / "local", labels, write_inputs)]

    def native_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        return []

    def report_sections(self, profile: Profile, perf: Path, params: dict, out: Path) -> list[str]:
        serving = profile.serving(self.name)
        if serving["flavour"] != "python-gpu":
            return []
        from repro.families.imagenet.gpu_report import sections
        return sections(perf, serving, serving["host_link_gbps"])


def top1_agreement(framework: np.ndarray, served: np.ndarray, labels: np.ndarray) -> tuple[float, dict]:
    """Share of images whose served argmax equals the framework's, with the largest logit difference and both
    top-1 accuracies; NaN or inf logits (or a shape mismatch) give NaN, which fails the gate."""
    if served.shape != framework.shape or not np.all(np.isfinite(served)):
        return float("nan"), {"error": f"served logits {served.shape}, finite: {bool(np.all(np.isfinite(served)))}"}
    agreement = float(np.mean(served.argmax(1) == framework.argmax(1)))
    return agreement, {"max_abs_logit_diff": float(np.max(np.abs(served - framework))),
                       "top1_served": float(np.mean(served.argmax(1) == labels)),
                       "top1_framework": float(np.mean(framework.argmax(1) == labels))}


IMAGENET = Imagenet()
