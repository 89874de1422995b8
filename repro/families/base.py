"""The model-family seam: what every family provides to the pipeline's stages.

Stages look a family up once (``family_of(model)``) and call these methods; they never branch on a
model or family name. Serving, measuring and report code receive paths, tensor specs and arrays,
never a family's own types. Each method takes the whole validated params dict and reads its own
sections (``params["train"][family.name]`` and so on).
"""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

from pydantic import BaseModel


class FamilyParams(Protocol):
    """The family's params subsections, one pydantic model each (``data.<family>``, ``train.<family>``,
    ``convert.<family>``, ``accuracy.<family>``), validated before anything runs."""
    data: type[BaseModel]
    train: type[BaseModel]
    convert: type[BaseModel]
    accuracy: type[BaseModel]


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

    def write_repositories(self, model: str, converted: Path, engine: Path, params: dict, instance_kind: str,
                           out: Path) -> dict:
        """Write the model's Triton repositories (``out/local``, ``out/container``); return a manifest."""

    def accuracy_models(self, model: str) -> list[str]:
        """Served model names whose outputs the accuracy gate scores."""

    def score(self, url: str, served: str, data: Path, params: dict) -> float:
        """The served model's score on the test split, through the running server at ``url``."""

    def perf_models(self, model: str) -> dict[str, str]:
        """Served model names to measure -> their variant (a key of ``engine_label``)."""

    def write_request_inputs(self, data: Path, path: Path) -> None:
        """perf_analyzer's ``--input-data`` JSON from the test split."""

    def engine_label(self, variant: str, dense_engine: str, versions: dict[str, str]) -> str:
        """What actually ran for a variant, in words (every result row carries it)."""
