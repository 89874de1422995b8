"""Golden `make deploy-<gpu> DRY_RUN=1` plans for the five published-hardware profiles: every command, in
order (image builds from the pinned bases, conversion under horovodrun, trtexec engines, the server,
perf_analyzer). Written for docker at a fixed workspace and uid so they compare on any machine.

Regenerate after an intended change with:
    REGENERATE_GOLDEN=1 make test PYTEST_ARGS=tests/golden/test_deploy_plans.py
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from repro import paths
from tools import container_plan

HERE = Path(__file__).parent / "deploy_plans"
GPUS = ("a100", "a30", "t4", "v100", "a40")


@pytest.mark.parametrize("gpu", GPUS)
def test_plan_matches_golden(gpu, capsys):
    assert container_plan.main(["--profile", gpu, "--engine", "docker", "--workspace", "/workspace/repro",
                                "--uid", "1000", "--gid", "1000"]) == 0
    text = capsys.readouterr().out
    golden = HERE / f"{gpu}.txt"
    if os.environ.get("REGENERATE_GOLDEN"):
        golden.write_text(text)
    assert text == golden.read_text()


def test_plan_runs_upstreams_steps_in_order():
    lines = [line for line in (HERE / "a100.txt").read_text().splitlines() if not line.startswith("#")]
    first = lambda word: next(i for i, line in enumerate(lines) if word in line)  # noqa: E731
    assert first("docker build") < first("horovodrun") < first("trtexec") < first("tritonserver --model") \
        < first("stages.accuracy") < first("perf_analyzer") < first("docker stop") < first("stages.tables")
    server = lines[first("tritonserver --model")]
    for flag in ("--gpus all", "--ipc=host", "--shm-size=1g", "--ulimit memlock=-1", "--ulimit stack=67108864",
                 "--http-address=127.0.0.1", "--backend-config=hps,ps=/models/ps.json", "--user 1000:1000"):
        assert flag in server
    assert "--fp16" not in lines[first("trtexec")]          # convert.precision is fp32 in params.yaml


def test_podman_uses_cdi_for_the_gpu(capsys):
    assert container_plan.main(["--profile", "t4", "--engine", "podman"]) == 0
    text = capsys.readouterr().out
    assert "--device nvidia.com/gpu=all" in text and "--gpus" not in text


def test_real_target_refuses_here_and_points_to_dry_run():
    out = subprocess.run(["make", "--no-print-directory", "deploy-a100"], cwd=paths.ROOT, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 2 and "DRY_RUN=1" in out.stderr and "Traceback" not in out.stderr


def test_a_profile_that_is_not_a_container_profile_has_no_plan(capsys):
    assert container_plan.main(["--profile", "cpu"]) == 2
    assert "does not run in containers" in capsys.readouterr().err
