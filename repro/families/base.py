"""The model-family seam: what every family provides to the pipeline's stages.

Stages look a family up once (``family_of(model)``) and call these methods; they never branch on a
model or family name. Serving, measuring and report code receive paths, tensor specs and arrays,
never a family's own types. Each method takes the whole validated params dict and reads its own
sections (``params["train"][family.name]`` and so on).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from repro.profiles.catalog import Profile
from repro.serving.plan import AccuracyCheck, ServedGroup


@dataclass(frozen=True)
class RepoInputs:
    """What the repos stage hands a family for one model."""
    converted: Path      # artifacts/convert/<model>
    engine: Path         # artifacts/engine/<model>
    checkpoint: Path     # artifacts/train/<model>
    data: Path           # artifacts/data/<family>


class Section(BaseModel):
    """A family's params subsection: unknown keys, type coercion and NaN/inf are errors."""
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class BackendChoice(Section):
    """A GPU flavour's backends (``profiles.<p>.serving.<family>``): the python backend, and the native C++
    backend (repro/native) measured beside it; ``default_backend`` is what the profile serves by default."""
    backends: list[Literal["python", "cpp"]] = ["python"]
    default_backend: Literal["python", "cpp"] = "python"

    @model_validator(mode="after")
    def default_is_listed(self) -> "BackendChoice":
        if len(set(self.backends)) != len(self.backends) or not self.backends:
            raise ValueError(f"backends {self.backends}: name each of python and cpp at most once")
        if self.default_backend not in self.backends:
            raise ValueError(f"default_backend '{self.default_backend}' is not one of backends {self.backends}")
        if self.backends != ["python"] and getattr(self, "flavour", "python-gpu") != "python-gpu":
            raise ValueError("backends beside python belong to the python-gpu flavour (the GPU host's)")
        return self


class TrainParams(Section):
    """``train.<family>`` where a family needs no more than this."""
    epochs: int = Field(gt=0)
    batch_size: int = Field(gt=0)
    learning_rate: float = Field(gt=0)


class FamilyParams(Protocol):
    """The family's params subsections, one pydantic model each (``data.<family>``, ``train.<family>``,
    ``convert.<family>``, ``accuracy.<family>``), validated before anything runs."""
    data: type[BaseModel]
    train: type[BaseModel]
    convert: type[BaseModel]
    accuracy: type[BaseModel]
    serving: type[BaseModel]        # profiles.<profile>.serving.<family>: the flavour and its options


class Family(Protocol):
    name: str                       # registry key = params subsection name = folder name
    models: tuple[str, ...]         # the models this family serves
    display_names: dict[str, str]   # model -> name in table headings ("DLRM")
    table_style: str                # the published table style its measured tables render in
    scenarios: tuple[str, ...]      # measurement scenarios it supports (repro.measure.scenarios)
    score_name: str                 # the accuracy metric ("AUC", "MAP@12", "top-1")
    params: FamilyParams

    def synthesize(self, params: dict, out: Path) -> str:
        """Write the family's seeded synthetic dataset under ``out``; return a one-line summary."""

    def train(self, model: str, data: Path, params: dict, out: Path) -> dict:
        """Train ``model`` on ``data``, write its checkpoint to ``out``; return the metrics (with the
        framework's own score under ``reference_score``)."""

    def convert(self, model: str, checkpoint: Path, data: Path, params: dict, out: Path) -> dict:
        """Export the served formats into ``out``; check each against the framework and raise on a
        failed (or NaN) check; return the conversion report."""

    def engine_command(self, model: str, converted: Path, plan: Path, params: dict) -> list[str]:
        """The TensorRT build command (run where TensorRT exists)."""

    def write_repositories(self, model: str, inputs: "RepoInputs", params: dict, profile: Profile, out: Path) -> dict:
        """Write the model's Triton repositories for the profile's serving flavour under ``out``; return
        a manifest."""

    def accuracy_checks(self, model: str, repos: Path, data: Path, reference: dict, params: dict,
                        profile: Profile) -> list[AccuracyCheck]:
        """What the accuracy stage serves and scores (``reference``: the train stage's metrics)."""

    def perf_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        """What the perf stage serves, one server start per group, with every row's labels."""

    def native_groups(self, model: str, repos: Path, data: Path, params: dict, profile: Profile) -> list[ServedGroup]:
        """The native-vs-converted comparison (seed 004), where the family has one."""

    def report_sections(self, profile: Profile, perf: Path, params: dict, out: Path) -> list[str]:
        """Extra markdown sections of the profile's report (results/<profile>/), or none."""

    def container_steps(self, model: str, params: dict, profile: Profile, repo: Path) -> list["ImageStep"]:
        """A container profile's in-image steps for ``model`` after its repository is written (exports,
        engines), in order; ``repo`` is the profile's repository folder."""

    def container_served(self, model: str) -> list[str]:
        """The models a client calls for ``model`` on a container profile (its perf rows)."""

    def container_server_env(self) -> dict[str, str]:
        """Environment the serving container needs for this family's models (ResNet50: upstream's
        ``ORT_TENSORRT_FP16_ENABLE=1``), or none."""


@dataclass(frozen=True)
class ImageStep:
    """One command a container profile runs inside one of its images (repro.containers.plan)."""
    image: str           # role: serving | convert | engine | client
    what: str            # one line for the plan
    command: list[str]   # argv inside the image
