"""Bad parameters get a clear error naming params.yaml, the field and the fix."""
from __future__ import annotations

import copy

import pytest
import yaml

from repro import paths
from repro.params import ParamsError, load_params, validate


@pytest.fixture()
def params():
    return yaml.safe_load((paths.ROOT / "params.yaml").read_text())


def test_committed_params_are_valid(params):
    validate(copy.deepcopy(params))


@pytest.mark.parametrize("mutate,message", [
    (lambda p: p.update(profile="b200"), r"field 'profile' is 'b200'; choose one of"),
    (lambda p: p["data"].update(preset="huge"), r"field 'data.preset' is 'huge'; choose one of"),
    (lambda p: p["perf"].update(batch_sizes=[256, 0]), r"'perf.batch_sizes' must hold positive integers, got \[0\]"),
    (lambda p: p["perf"].update(batch_sizes=[-4]), r"'perf.batch_sizes' must hold positive integers"),
    (lambda p: p["convert"].update(memory_threshold_gb=-1), r"'convert.memory_threshold_gb' must be a number >= 0"),
    (lambda p: p["perf"].pop("concurrency"), r"field 'perf.concurrency' is missing"),
    (lambda p: p["native"].update(models=["dcnv2"]) or p["train"].update(models=["dlrm"]), r"not in 'train.models'"),
])
def test_bad_params_are_rejected(params, mutate, message):
    mutate(params)
    with pytest.raises(ParamsError, match=message):
        validate(params)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="is missing; run from the repository root"):
        load_params(tmp_path / "params.yaml")
