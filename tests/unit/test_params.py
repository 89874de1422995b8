"""Bad parameters get a clear error naming params.yaml, the key and the fix (typed schema, unknown
keys with the closest valid name, cross-checks)."""
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
    (lambda p: p["profiles"]["cpu"].update(runtime="docker"), r"'profiles.cpu.runtime' is 'docker'; choose one of 'local'"),
    (lambda p: p["data"]["criteo"].update(preset="huge"), r"'data.criteo.preset' is 'huge'; choose one of"),
    (lambda p: p["profiles"]["cpu"]["perf"].update(batch_sizes=[256, 0]), r"'profiles.cpu.perf.batch_sizes\[1\]' is 0: input should be greater than 0"),
    (lambda p: p["profiles"]["cpu"]["perf"].update(batch_sizes=[]), r"'profiles.cpu.perf.batch_sizes' is \[\]"),
    (lambda p: p["convert"]["criteo"].update(memory_threshold_gb=-1),
     r"'convert.criteo.memory_threshold_gb' is -1: input should be greater than or equal to 0"),
    (lambda p: p["profiles"]["cpu"]["perf"].pop("concurrency"), r"'profiles.cpu.perf.concurrency' is missing; add it"),
    (lambda p: p["train"]["criteo"].update(learning_rate="1e-3"),
     r"'train.criteo.learning_rate' is the string '1e-3', not a number; write it without quotes"),
    (lambda p: p["train"]["criteo"].update(learning_rate=float("nan")), r"input should be a finite number"),
    (lambda p: p["profiles"]["cpu"]["repos"].update(max_batch_size=True), r"'profiles.cpu.repos.max_batch_size' is True: input should be a valid integer"),
    (lambda p: p["data"].update(samples=1000), r"'data.samples' is not a known key; valid keys here: criteo"),
    (lambda p: p["profiles"]["cpu"]["perf"].update(batch_size=[1]), r"'profiles.cpu.perf.batch_size' is not a known key; did you mean 'profiles.cpu.perf.batch_sizes'\?"),
    (lambda p: p.update(sed=1), r"'sed' is not a known key; did you mean 'seed'\?"),
    (lambda p: p["profiles"]["h100"]["serving"]["criteo"]["configs"][0].update(sparse="hash"),
     r"'profiles.h100.serving.criteo.configs\[0\].sparse' is 'hash'; choose one of"),
    (lambda p: p["profiles"]["h100"]["serving"]["criteo"].update(flavor="x"),
     r"'profiles.h100.serving.criteo.flavor' is not a known key; did you mean 'profiles.h100.serving.criteo.flavour'\?"),
    (lambda p: p["profiles"]["cpu"]["serving"].pop("criteo"), r"'profiles.cpu.serving.criteo' is missing"),
    (lambda p: p["models"].update(dlrn="criteo"), r"'models.dlrn' is not a model of any family; did you mean 'dlrm'\?"),
    (lambda p: p["models"].update(dlrm="widedeep"), r"'models.dlrm' says family 'widedeep', but dlrm belongs to 'criteo'"),
    (lambda p: p["accuracy"].pop("criteo"), r"'accuracy.criteo' is missing \(the models of family 'criteo' need it\)"),
    (lambda p: p["profiles"]["cpu"]["native"].update(models=["dcnv2"]) or p["models"].pop("dcnv2"),
     r"'profiles.cpu.native.models' lists 'dcnv2', which is not in 'models'"),
    (lambda p: p["profiles"]["cpu"]["perf"].update(batch_sizes=[131072]),
     r"batch sizes \[131072\] exceed 'profiles.cpu.repos.max_batch_size'"),
])
def test_bad_params_are_rejected(params, mutate, message):
    mutate(params)
    with pytest.raises(ParamsError, match=message):
        validate(params)


def test_every_problem_is_listed_at_once(params):
    params["data"]["criteo"]["preset"] = "huge"
    params["profiles"]["cpu"]["perf"]["concurency"] = 1
    with pytest.raises(ParamsError) as info:
        validate(params)
    assert "'data.criteo.preset'" in str(info.value) and "did you mean 'profiles.cpu.perf.concurrency'" in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="is missing; run from the repository root"):
        load_params(tmp_path / "params.yaml")


def test_not_a_mapping(tmp_path):
    (tmp_path / "params.yaml").write_text("- just a list\n")
    with pytest.raises(ParamsError, match="expected a mapping of sections"):
        load_params(tmp_path / "params.yaml")
