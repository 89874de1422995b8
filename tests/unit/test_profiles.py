"""Profiles as data: the catalog reads params.yaml, the GPU host runs the very commands dvc.yaml gives
the profile's stages, and a GPU profile's host fingerprint is kept on a machine without a GPU."""
from __future__ import annotations

import json
import shlex
import sys

import pytest
import yaml

from repro import paths
from repro.errors import UserError
from repro.params import load_params
from repro.profiles.catalog import get_profile
from stages import host
from tools.run_profile import STAGES, stage_commands


def test_profiles_come_from_params():
    params = load_params(paths.ROOT / "params.yaml")
    cpu, h100 = get_profile(params, "cpu"), get_profile(params, "h100")
    assert (cpu.runtime, cpu.device, cpu.instance_kind) == ("local", "cpu", "KIND_CPU")
    assert (h100.runtime, h100.device, h100.serving("criteo")["flavour"]) == ("bundle", "gpu", "python-gpu")


def test_unknown_profiles_are_named():
    with pytest.raises(UserError, match="unknown profile 'b200'"):
        get_profile(load_params(paths.ROOT / "params.yaml"), "b200")


def test_published_hardware_are_container_profiles_that_do_not_run_here():
    from repro.profiles.preflight import can_run_here
    params = load_params(paths.ROOT / "params.yaml")
    for name in ("a100", "a30", "t4", "v100", "a40"):
        profile = get_profile(params, name)
        assert (profile.runtime, profile.device, profile.serving("criteo")["flavour"]) == ("container", "gpu", "container")
        assert f"make deploy-{name} DRY_RUN=1" in can_run_here(profile)


def test_gpu_host_runs_the_commands_dvc_yaml_gives_the_profile():
    spec = yaml.safe_load((paths.ROOT / "dvc.yaml").read_text())["stages"]
    commands = stage_commands(paths.ROOT / "dvc.yaml", "h100")
    assert [name for name, _ in commands] == [f"{s}@h100" for s in STAGES]
    for (name, argv), stage in zip(commands, STAGES):
        expected = shlex.split(" ".join(spec[stage]["do"]["cmd"].split()).replace("${key}", "h100"))
        assert argv == [sys.executable, *expected[1:]]
        assert "--profile" in argv and argv[argv.index("--profile") + 1] == "h100"


def test_gpu_profile_fingerprint_is_kept_without_a_gpu(tmp_path, monkeypatch):
    out = tmp_path / "host.json"
    recorded = {"cpu": "the GPU host's CPU", "gpus": [{"name": "NVIDIA H100 80GB HBM3", "driver": "1", "memory": "80"}],
                "cores": 16, "memory_gib": 126, "isa": [], "triton": "2.51.0"}
    out.write_text(json.dumps(recorded))
    monkeypatch.setattr(host, "fingerprint", lambda: {**recorded, "gpus": []})
    assert host.main(["--profile", "h100", "--out", str(out)]) == 0
    assert json.loads(out.read_text()) == recorded
    out.unlink()   # never measured: refused, nothing written
    assert host.main(["--profile", "h100", "--out", str(out)]) == 2 and not out.exists()
