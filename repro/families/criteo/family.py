"""The Criteo family (DLRM, DCNv2) behind the family interface (repro.families.base). Each method is
the family's side of one stage; TensorFlow loads only inside the methods that need it."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Literal, Optional

import numpy as np
import pandas as pd
from pydantic import Field, model_validator

from repro import atomic
from repro.cli import progress
from repro.engines.placement import placement_report
from repro.errors import UserError
from repro.families.criteo import dataset
from repro.families.criteo.presets import NUM_NUMERICAL, PRESETS, get_preset
from repro.families.base import BackendChoice, ImageStep, RepoInputs, Section, TrainParams
from repro.measure.labels import row_labels, runtime_label, versions
from repro.profiles.catalog import Profile
from repro.serving.plan import AccuracyCheck, ServedGroup

CHECK_SAMPLES = 2048          # test samples the ONNX-vs-TensorFlow check runs
TRT_OPTIMAL_BATCH = 1024      # trtexec's opt shape
NUM_TABLES_DIM = 26 * 128     # values per sample of the dense model's flattened lookups (26 tables x dim 128)
CONTAINER_MAX_BATCH = 65536   # upstream's max_batch_size for the served DLRM/DCNv2 (the engine's max shape)


class DataParams(Section):
    preset: Literal[tuple(PRESETS)]  # type: ignore[valid-type]  # tiny (tests) | small (cpu) | 4B | 22B


class ConvertParams(Section):
    memory_threshold_gb: float = Field(ge=0)
    onnx_opset: int = Field(gt=0)
    onnx_max_abs_diff: float = Field(ge=0)
    hps_gpucacheper: float = Field(ge=0, le=1)


class AccuracyParams(Section):
    auc_tolerance: float = Field(ge=0)
    batch_size: int = Field(gt=0)


class GpuConfig(Section):
    """One measured configuration of the python-gpu flavour."""
    model: Literal["dlrm", "dcnv2"]
    preset: Literal[tuple(PRESETS)]  # type: ignore[valid-type]
    precision: Literal["fp32", "fp16"]
    sparse: Literal["fused", "placement", "cache"]
    serving: Literal["fused", "ensemble", "transport"]
    inputs: Literal["system", "cuda"] = "system"


class GpuHardware(Section):
    host_link_gbps: float = Field(gt=0)
    memory_gbps: float = Field(gt=0)
    fp16_tflops: float = Field(gt=0)
    fp32_tflops: float = Field(gt=0)
    tf32_tflops: float = Field(gt=0)


class ServingParams(BackendChoice):
    """``profiles.<profile>.serving.criteo``: the flavour, and the python-gpu flavour's options."""
    flavour: Literal["python-cpu", "python-gpu", "container"]   # container: upstream's NGC-image repositories
    seed: Optional[int] = Field(default=None, gt=0)
    memory_threshold_gb: Optional[float] = Field(default=None, ge=0)
    gpucacheper: Optional[float] = Field(default=None, ge=0, le=1)
    default_serving: Optional[Literal["fused", "ensemble"]] = None
    fp32_matmul: Optional[Literal["ieee", "tf32"]] = None
    chunk_rows: Optional[int] = Field(default=None, ge=0)
    native_engine: Literal["torchscript", "kernels", "aoti"] = "torchscript"   # the native backend's (repro/engines/scripted.py)
    input_samples: Optional[int] = Field(default=None, gt=0)
    gate_samples: Optional[int] = Field(default=None, gt=0)
    carry_weights: list[Literal["dlrm", "dcnv2"]] = []
    hardware: Optional[GpuHardware] = None
    configs: list[GpuConfig] = []

    @model_validator(mode="after")
    def gpu_options(self) -> "ServingParams":
        needed = ("seed", "memory_threshold_gb", "gpucacheper", "default_serving", "fp32_matmul", "chunk_rows",
                  "input_samples", "gate_samples", "hardware")
        missing = [k for k in needed if getattr(self, k) is None]
        if self.flavour == "python-gpu" and (missing or not self.configs):
            raise ValueError(f"the python-gpu flavour needs {', '.join(missing + ([] if self.configs else ['configs']))}")
        if self.flavour == "python-cpu" and (self.configs or any(getattr(self, k) is not None for k in needed)):
            raise ValueError("the python-cpu flavour takes no options besides 'flavour'")
        return self


class CriteoParams:
    data, train, convert, accuracy, serving = DataParams, TrainParams, ConvertParams, AccuracyParams, ServingParams


SPARSE_ENGINES = {
    "tf": "TF SavedModel sparse (TensorFlow {tensorflow}, python backend)",
    "hps": "HPS-file sparse lookup (numpy, python backend; not the HPS backend)",
    "native_tf": "whole model in TensorFlow {tensorflow} (python backend, no ensemble)",
}
DENSE_ENGINES = {"onnxruntime-cpu": "ONNX Runtime {onnxruntime} CPU dense (python backend)"}


class Criteo:
    name = "criteo"
    models = ("dlrm", "dcnv2")
    display_names = {"dlrm": "DLRM", "dcnv2": "DCNv2"}
    table_style = "dlrm"
    scenarios = ("offline", "online")   # seeds 000/001 publish offline only; online runs where params ask for it
    score_name = "AUC"
    reference_metric = "test_auc_tf"
    params = CriteoParams
    # seed 004's layout: server compute-infer latency of the whole model in TF vs the converted ensembles
    native_comparison = {"native_tf": "Native TF", "tf": "TF sparse + ORT dense ensemble",
                         "hps": "HPS-file sparse + ORT dense ensemble"}
    # which published document holds the tables of a served variant (results/published/index.csv: source)
    published_sources = {"tf": "001_99b988d175811b84.txt", "hps": "000_c41fefe0334b576a.txt"}
    native_speedup = "Speedup - HPS-file ensemble to Native TF"

    def native_table(self, frames: dict[str, pd.DataFrame], model: str) -> pd.DataFrame:
        """Seed-004 layout: batch, compute-infer µs per method, speedup of the fastest converted path."""
        columns = self.native_comparison
        infer = {v: frames[f"{model}_{v}"].set_index("batch")["server_compute_infer_us"] for v in columns}
        table = pd.DataFrame({columns[v]: infer[v] for v in columns}).round().astype(int)
        table[self.native_speedup] = (table[columns["native_tf"]] / table[columns["hps"]]).round(2)
        return table.rename_axis("Batch size").reset_index()

    def published_counterpart(self, table: str) -> dict:
        """Which published tables a measured table sits beside: the document that publishes its sparse
        variant (TF SavedModel -> seed 001, HPS or the HPS-like cache -> seed 000; index.csv columns)."""
        parts = table.split("_")   # cpu: <model>_<tf|hps>; h100: <model>_<preset>_<precision>_<sparse>_<serving>
        variant = "hps" if {"hps", "cache"} & set(parts) else "tf"
        return {"source": self.published_sources[variant], "model": self.display_names[parts[0]]}

    def size_label(self, params: dict) -> str:
        return f"{params['data'][self.name]['preset']} preset"

    def synthesize(self, params: dict, out: Path) -> str:
        from repro.families.criteo.synthetic import make_dataset
        preset = get_preset(params["data"][self.name]["preset"])
        progress("data", f"criteo: preset {preset.name}: {preset.train_samples} train + {preset.test_samples} test "
                         f"samples, 26 tables, {sum(preset.cardinalities):,} rows")
        splits = make_dataset(params["seed"], list(preset.cardinalities), preset.train_samples, preset.test_samples,
                              NUM_NUMERICAL)
        dataset.write_dataset(out, dataset.feature_spec(list(preset.cardinalities), NUM_NUMERICAL), splits)
        dataset.read_split(out, "test")  # the reader must accept what was written
        return f"preset {preset.name}"

    def train(self, model: str, data: Path, params: dict, out: Path) -> dict:
        from repro.families.criteo import models, training  # TensorFlow loads only here
        from repro.families.criteo.checkpoint import Checkpoint, write_checkpoint
        cfg, seed = params["train"][self.name], params["seed"]
        training.configure_determinism(seed, params["train"]["threads"])
        spec = dataset.load_spec(data)
        train_split, test_split = dataset.read_split(data, "train", spec), dataset.read_split(data, "test", spec)
        cards = dataset.cardinalities(spec)
        init = Checkpoint(model, models.init_dense(model, len(cards), train_split.numerical.shape[1], 128, seed),
                          models.init_tables(cards, 128, seed))
        config = training.TrainConfig(cfg["epochs"], cfg["batch_size"], cfg["learning_rate"], seed)
        progress("train", f"{model}: {len(train_split)} samples, {config.epochs} epoch(s), batch {config.batch_size}")
        trained, losses = training.train(model, init, train_split, config)
        auc = training.evaluate_auc(trained, test_split)
        progress("train", f"{model}: test AUC (TensorFlow) {auc:.5f}")
        if not (np.isfinite(auc) and np.isfinite(losses[-1])):
            raise UserError(f"training {model} diverged (final loss {losses[-1]}, test AUC {auc}); lower "
                            f"params.yaml 'train.{self.name}.learning_rate' ({cfg['learning_rate']}); nothing was written")
        with atomic.replace_dir(out) as staging:
            write_checkpoint(staging, trained)
        return {"model": model, "test_auc_tf": round(auc, 6), "final_loss": round(losses[-1], 6), "steps": len(losses)}

    def convert(self, model: str, checkpoint: Path, data: Path, params: dict, out: Path) -> dict:
        from repro.families.criteo import export, training
        from repro.families.criteo.checkpoint import read_checkpoint
        cfg = params["convert"][self.name]
        training.configure_determinism(params["seed"], params["train"]["threads"])
        ckpt = read_checkpoint(checkpoint)
        if ckpt.model != model:
            raise UserError(f"{checkpoint}/dense/config.json says model '{ckpt.model}', expected '{model}'")
        # the tables are stored in FP32 whatever the dense precision: 4 bytes a value count against the budget
        placement = placement_report(ckpt.cardinalities, ckpt.dim, 4, cfg["memory_threshold_gb"])
        test = dataset.read_split(data, "test").batch(0, CHECK_SAMPLES)
        numerical = test.numerical.astype(np.float32)
        lookups = np.stack([t[test.categorical[:, i]] for i, t in enumerate(ckpt.tables)], axis=1)
        with atomic.replace_dir(out) as staging:
            progress("convert", f"{model}: sparse SavedModel ({len(placement['cpu_tables'])} of {len(ckpt.tables)} "
                                f"tables past the {cfg['memory_threshold_gb']} GB GPU budget stay on CPU)")
            export.save_sparse(ckpt, [t["device"] for t in placement["tables"]], staging / "sparse_savedmodel")
            (staging / "placement.json").write_text(json.dumps(placement, indent=2) + "\n")
            progress("convert", f"{model}: HPS files (fused table, per-feature key offsets)")
            export.write_hps_files(ckpt.tables, staging / "hps")
            progress("convert", f"{model}: dense SavedModel -> ONNX (opset {cfg['onnx_opset']}) via tf2onnx")
            module = export.save_dense(ckpt, staging / "dense_savedmodel")
            export.export_onnx(module, staging / "dense.onnx", cfg["onnx_opset"])
            diff = export.onnx_max_abs_diff(module, staging / "dense.onnx", numerical, lookups)
            progress("convert", f"{model}: ONNX Runtime vs TensorFlow max abs diff {diff:.3g} "
                                f"(gate {cfg['onnx_max_abs_diff']:g})")
            if not diff <= cfg["onnx_max_abs_diff"]:  # NaN fails too
                raise UserError(f"ONNX dense submodel differs from TensorFlow by {diff:.3g} > params.yaml "
                                f"'convert.{self.name}.onnx_max_abs_diff' ({cfg['onnx_max_abs_diff']:g}); "
                                "nothing was written")
        return {"model": model, "onnx_vs_tf_max_abs_diff": diff, "onnx_check_samples": CHECK_SAMPLES,
                "onnx_opset": cfg["onnx_opset"], "gpu_tables": len(ckpt.tables) - len(placement["cpu_tables"]),
                "cpu_tables": placement["cpu_tables"], "table_bytes": placement["gpu_bytes"] + placement["cpu_bytes"]}

    def engine_command(self, model: str, converted: Path, plan: Path, params: dict) -> list[str]:
        dim = json.loads((converted / "hps" / "layout.json").read_text())["embedding_dim"] \
            if (converted / "hps" / "layout.json").exists() else 128
        shape = "numerical_features:{b}x13,lookup_vectors:{b}x26x" + str(dim)
        batches = {"min": 1, "opt": TRT_OPTIMAL_BATCH, "max": CONTAINER_MAX_BATCH}
        cmd = ["trtexec", f"--onnx={converted / 'dense.onnx'}", f"--saveEngine={plan}", "--buildOnly"]
        cmd += [f"--{k}Shapes={shape.format(b=batches[k])}" for k in ("min", "opt", "max")]
        return cmd + (["--fp16"] if params["convert"]["precision"] == "fp16" else [])

    # ---- serving flavours: profiles.<profile>.serving.criteo.flavour ----

    def write_repositories(self, model: str, inputs: RepoInputs, params: dict, profile: Profile, out: Path) -> dict:
        from repro.families.criteo import gpu_flavour
        from repro.families.criteo.container_repository import write_container_repo
        from repro.families.criteo.repository import RepoSettings, write_local_repo
        if not (inputs.converted / "dense.onnx").exists():
            raise UserError(f"{inputs.converted}/dense.onnx is missing; run `dvc repro convert@{model}`.")
        serving = profile.serving(self.name)
        if serving["flavour"] == "python-gpu":
            return gpu_flavour.write_repositories(model, inputs.converted, inputs.checkpoint, inputs.data, serving,
                                                  profile.perf["batch_sizes"], params["accuracy"][self.name]["batch_size"],
                                                  profile.repos["max_batch_size"], out)
        settings = RepoSettings(profile.repos["max_batch_size"], profile.repos["instances"], profile.instance_kind,
                                params["train"]["threads"], params["convert"][self.name]["hps_gpucacheper"])
        dim = json.loads((inputs.converted / "hps" / "layout.json").read_text())["embedding_dim"]
        if serving["flavour"] == "container":
            return write_container_repo(out, model, inputs.converted, dim, settings, self.container_settings(profile))
        return {"local": write_local_repo(out / "local", model, inputs.converted, dim, settings),
                "container": write_container_repo(out / "container", model, inputs.converted, dim, settings,
                                                  self.container_settings(profile))}

    @staticmethod
    def container_settings(profile: Profile):
        from repro.families.criteo.container_repository import ContainerSettings
        perf = profile.perf
        batches = set(perf["batch_sizes"]) | ({perf["online"]["batch_size"]} if perf.get("online") else set())
        return ContainerSettings(profile.repos.get("mount", "/models"), tuple(sorted(batches)))

    def container_steps(self, model: str, params: dict, profile: Profile, repo: Path) -> list[ImageStep]:
        """After the repos stage: the sparse SavedModel exported under horovodrun in the TF image (on the GPU,
        so it records the GPU placement), then both dense engines built by trtexec from the repository's ONNX."""
        c = params["containers"]
        shapes, dim = c["trt_shapes"], NUM_TABLES_DIM
        fp16 = ["--fp16"] if params["convert"]["precision"] == "fp16" else []
        export = ["horovodrun", "-np", str(c["horovod_np"]), "python", "repro/families/criteo/container_export.py",
                  "--checkpoint", f"artifacts/train/{model}", "--placement", f"artifacts/convert/{model}/placement.json",
                  "--out", str(repo / f"{model}_sparse" / "1" / "model.savedmodel")]

        def trtexec(name: str, shape) -> list[str]:
            return ["trtexec", f"--onnx={repo / name / 'onnx' / 'model.onnx'}",
                    f"--saveEngine={repo / name / '1' / 'model.plan'}", "--buildOnly",
                    *[f"--{k}Shapes=args_0:{shape(shapes[k], 13)},args_1:{shape(shapes[k], dim)}"
                      for k in ("min", "opt", "max")], *fp16]
        return [ImageStep("convert", f"{model}: sparse SavedModel with the GPU placement (horovodrun)", export),
                ImageStep("engine", f"{model}: TensorRT engine of {model}_dense (per-sample inputs)",
                          trtexec(f"{model}_dense", lambda b, w: f"{b}x{w}")),
                ImageStep("engine", f"{model}: TensorRT engine of {model}_hps_dense (flat inputs)",
                          trtexec(f"{model}_hps_dense", lambda b, w: f"{b * w}"))]

    def container_served(self, model: str) -> list[str]:
        """The container ensembles upstream's clients call (write_container_repo writes them)."""
        return [f"{model}_tf", f"{model}_hps"]

    def container_server_env(self) -> dict[str, str]:
        return {}

    def accuracy_checks(self, model: str, repos: Path, data: Path, reference: dict, params: dict,
                        profile: Profile) -> list[AccuracyCheck]:
        from repro.families.criteo import gpu_flavour
        serving, cfg = profile.serving(self.name), params["accuracy"][self.name]
        if serving["flavour"] == "python-gpu":
            return gpu_flavour.accuracy_checks(model, repos, serving, cfg["auc_tolerance"], cfg["batch_size"])
        split = data / self.name

        def score(url: str, served: str) -> float:
            from repro.families.criteo.client import infer_split
            from repro.families.scores import roc_auc
            test = dataset.read_split(split, "test")
            return roc_auc(test.label, infer_split(url, served, test, cfg["batch_size"]))

        names = [f"{model}_{variant}" for variant in ("tf", "hps", "native_tf")]
        return [AccuracyCheck(repos / "local", score, reference[self.reference_metric], cfg["auc_tolerance"],
                              len(dataset.read_split(split, "test")), {n: True for n in names}, self.score_name)]

    def perf_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        from repro.families.criteo import gpu_flavour
        serving = profile.serving(self.name)
        if serving["flavour"] == "python-gpu":
            return gpu_flavour.perf_groups(model, repos, serving, runtime_label(profile))
        variants = {f"{model}_{variant}": variant for variant in ("tf", "hps")}
        return [ServedGroup(model, repos / "local", self.cpu_labels(profile, variants, params),
                            lambda path: self.write_request_inputs(data / self.name, path))]

    def native_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        """Seed 004's served variants: the whole model in TensorFlow beside the converted ensembles."""
        variants = {f"{model}_{v}": v for v in self.native_comparison}
        return [ServedGroup(model, repos / "local", self.cpu_labels(profile, variants, params),
                            lambda path: self.write_request_inputs(data / self.name, path))]

    def report_sections(self, profile: Profile, perf: Path, params: dict, out: Path) -> list[str]:
        """Extra report sections of the profile's flavour (python-gpu: published A100 counterparts,
        physical limits, where the time goes, fused vs ensemble, targets)."""
        serving = profile.serving(self.name)
        if serving["flavour"] != "python-gpu":
            return []
        from repro.families.criteo.gpu_report import sections
        return sections(perf, serving, out)

    def cpu_labels(self, profile: Profile, variants: dict[str, str], params: dict) -> dict[str, dict[str, str]]:
        found = versions()
        precision = params["convert"]["precision"]
        return {name: row_labels(profile, self.engine_label(variant, "onnxruntime-cpu", found), precision, found)
                for name, variant in variants.items()}

    def write_request_inputs(self, data: Path, path: Path) -> None:
        from repro.families.criteo.client import write_request_inputs
        write_request_inputs(dataset.read_split(data, "test"), path)

    def engine_label(self, variant: str, dense_engine: str, versions: dict[str, str]) -> str:
        sparse = SPARSE_ENGINES[variant].format(**versions)
        if variant == "native_tf":
            return sparse
        return f"{sparse} + {DENSE_ENGINES[dense_engine].format(**versions)}"


CRITEO = Criteo()
