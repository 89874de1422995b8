"""A time-limited GPU host measures a profile in parts (`make deploy-h100 MODELS=...`)."""
from __future__ import annotations

import pytest

from repro.errors import UserError
from repro.families import served_models
from tools import run_profile


def only_models(served: list[str], only: list[str] | None) -> list[str]:
    params = {"models": {m: f"family_{m}" for m in served}}
    profile = type("P", (), {"name": "h100", "serves": staticmethod(lambda family: True)})
    return served_models(params, profile, only)


def test_only_models_keeps_the_served_order_and_names_unknown_ones():
    assert only_models(["dlrm", "dcnv2", "widedeep"], None) == ["dlrm", "dcnv2", "widedeep"]
    assert only_models(["dlrm", "dcnv2", "widedeep"], ["widedeep", "dlrm"]) == ["dlrm", "widedeep"]
    with pytest.raises(UserError, match="resnet50"):
        only_models(["dlrm"], ["resnet50"])


def test_run_profile_passes_models_to_accuracy_and_perf_only(monkeypatch):
    ran = []
    monkeypatch.setattr(run_profile.subprocess, "run", lambda cmd, cwd: ran.append(cmd) or type("R", (), {"returncode": 0}))
    assert run_profile.main(["--profile", "h100", "--models", "widedeep"]) == 0
    scoped = {cmd[2].split(".")[1]: "--models" in cmd for cmd in ran}
    assert scoped == {"host": False, "accuracy": True, "perf": True, "native": False, "tables": False}
