"""`make deploy RUNTIME=container` for real: the tiny preset's cpu pipeline inside the project's own image
(docker/cpu, built here with podman from Debian's packages; podman is installed when missing), next to the
same pipeline run here. Through repos its artifacts must be byte-identical to the local run's, and every
measured row must say it ran in the container. Skips (with the reason) only where no engine can be installed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess

import pandas as pd
import pytest
import yaml

from repro import paths
from repro.containers.local_image import artifact_differences
from repro.errors import UserError
from tests.e2e.test_pipeline_tiny import tiny_params
from tools import cpu_container

pytestmark = pytest.mark.e2e


def checkout(dest, tiny):
    """A checkout of this one's code (tracked and untracked files, as committed or edited) with the tiny params,
    its own git repository and no outputs."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=paths.ROOT, capture_output=True,
                           text=True, check=True).stdout.split()
    for rel in files:
        src = paths.ROOT / rel
        if src.is_file() and not rel.startswith(("results/cpu/", "results/h100/", "results/train/", "results/convert/")):
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / "dvc.lock").unlink(missing_ok=True)
    shutil.copy(tiny, dest / "params.yaml")
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@localhost"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "checkout"]):
        subprocess.run(git + argv, cwd=dest, check=True, capture_output=True)
    return dest


@pytest.fixture(scope="module")
def engine_name():
    try:
        return cpu_container.choose_engine("auto")
    except UserError as exc:
        pytest.skip(f"no container engine can be installed here: {exc}")


@pytest.fixture(scope="module")
def runs(tmp_path_factory, engine_name):
    tmp = tmp_path_factory.mktemp("container")
    tiny = tiny_params(tmp)
    local, inside = checkout(tmp / "local", tiny), checkout(tmp / "inside", tiny)
    env = {**os.environ, "PYTHONPATH": str(local), "REPRO_RUNTIME": str(paths.RUNTIME), "PYTHONHASHSEED": "0",
           "PATH": f"{paths.VENV / 'bin'}:{os.environ['PATH']}"}
    done = subprocess.run([str(paths.VENV / "bin" / "dvc"), "repro", "repos@cpu"], cwd=local, env=env,
                          capture_output=True, text=True, timeout=1800)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    launcher = subprocess.Popen([str(paths.VENV / "bin" / "python"), "-m", "tools.cpu_container", "deploy", "--profile",
                                 "cpu", "--params", str(inside / "params.yaml"), "--workspace", str(inside)],
                                cwd=paths.ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, _ = launcher.communicate(timeout=2400)
    assert launcher.returncode == 0, output[-8000:]
    return local, inside, output, launcher.pid


def test_artifacts_are_byte_identical_to_the_local_run(runs):
    local, inside, _, _ = runs
    before, after = (yaml.safe_load((d / "dvc.lock").read_text()) for d in (local, inside))
    assert not artifact_differences(before, after, "cpu")
    assert {"data", "train@dlrm", "convert@dlrm", "engine@dlrm", "repos@cpu"} <= set(after["stages"])


def test_measured_rows_say_they_ran_in_the_container(runs):
    _, inside, output, _ = runs
    assert "container runtime: localhost/repro-cpu:" in output
    host = json.loads((inside / "results" / "cpu" / "host.json").read_text())
    assert host["container"].startswith("localhost/repro-cpu:")
    rows = pd.concat(pd.read_csv(f) for f in (inside / "results" / "cpu" / "perf").glob("*.csv")
                     if not f.name.endswith("_breakdown.csv"))
    assert len(rows) and rows["runtime"].str.startswith("Triton 2.51.0 (container runtime: localhost/repro-cpu:").all()
    report = (inside / "results" / "cpu" / "tables" / "report.md").read_text()
    assert "container runtime: localhost/repro-cpu:" in report.splitlines()[0]
    assert json.loads((inside / "results" / "cpu" / "accuracy.json").read_text())


def test_no_container_is_left_behind(runs, engine_name):
    engine = cpu_container.Engine(engine_name, paths.ROOT, gpu=False)
    names = subprocess.run([engine_name, "ps", "-a", "--format", "{{.Names}}"], env=engine.environment(),
                           capture_output=True, text=True).stdout.split()
    assert f"{cpu_container.NAME_PREFIX}{runs[3]}" not in names      # the run's own container (others may run)


def test_make_routes_runtime_container_to_the_image():
    out = subprocess.run(["make", "-n", "--no-print-directory", "deploy", "RUNTIME=container"], cwd=paths.ROOT,
                         capture_output=True, text=True)
    assert "tools.cpu_container deploy --profile cpu" in out.stdout
    bad = subprocess.run(["make", "--no-print-directory", "deploy", "RUNTIME=docker"], cwd=paths.ROOT,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "not a runtime" in bad.stderr
