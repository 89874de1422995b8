"""`make deploy` with a bad params value or an unknown key: a clear error naming the key and the fix,
exit 2, and nothing under artifacts/ or results/ deleted or changed (DVC never starts)."""
from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from repro import paths

pytestmark = pytest.mark.e2e

LINKED = ("Makefile", "dvc.yaml", "repro", "stages", "tools", "requirements.lock", ".venv", ".runtime")


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def checkout(tmp_path):
    """A checkout sharing this one's code and environment, with outputs of its own to protect."""
    for name in LINKED:
        (tmp_path / name).symlink_to(paths.ROOT / name)
    shutil.copytree(paths.ROOT / ".dvc", tmp_path / ".dvc", ignore=shutil.ignore_patterns("tmp", "cache"))
    for out in ("artifacts/data/criteo/label.bin", "artifacts/train/dlrm/dense/config.json",
                "results/cpu/perf/dlrm_tf.csv", "results/cpu/accuracy.json"):
        (tmp_path / out).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / out).write_text(f"earlier output {out}\n")
    return tmp_path


@pytest.mark.parametrize("mutate,key,fix", [
    (lambda p: p["train"]["criteo"].update(learning_rate="1e-3"), "train.criteo.learning_rate", "without quotes"),
    (lambda p: p["data"]["criteo"].update(preset="huge"), "data.criteo.preset", "choose one of"),
    (lambda p: p["profiles"]["cpu"].update(device="tpu"), "profiles.cpu.device", "choose one of"),
    (lambda p: p["data"].update(samples=1000), "data.samples", "is not a known key"),
    (lambda p: p["profiles"]["cpu"]["perf"].update(concurency=1), "profiles.cpu.perf.concurency",
     "did you mean 'profiles.cpu.perf.concurrency'"),
])
def test_bad_params_stop_make_deploy_before_dvc(checkout, mutate, key, fix):
    params = yaml.safe_load((paths.ROOT / "params.yaml").read_text())
    mutate(params)
    (checkout / "params.yaml").write_text(yaml.safe_dump(params))
    before = tree_digest(checkout / "artifacts") | tree_digest(checkout / "results")
    out = subprocess.run(["make", "--no-print-directory", "deploy"], cwd=checkout, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 2, out.stdout + out.stderr
    assert f"'{key}'" in out.stderr and fix in out.stderr, out.stderr
    assert "Traceback" not in out.stderr
    assert "Running stage" not in out.stdout + out.stderr
    assert tree_digest(checkout / "artifacts") | tree_digest(checkout / "results") == before


@pytest.mark.parametrize("profile,message", [
    ("a100", "runs inside upstream's pinned images on a host with that GPU"),
    ("gpu9", "unknown profile 'gpu9'; the profiles in params.yaml are ['a100', 'a30', 'a40', 'cpu', 'h100', 't4', 'v100']"),
])
def test_deploy_refuses_a_profile_it_cannot_run_here(checkout, profile, message):
    shutil.copy(paths.ROOT / "params.yaml", checkout / "params.yaml")
    before = tree_digest(checkout / "artifacts") | tree_digest(checkout / "results")
    out = subprocess.run(["make", "--no-print-directory", f"deploy-{profile}"], cwd=checkout, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and "Running stage" not in out.stdout + out.stderr
    assert (checkout / "params.yaml").read_text() == (paths.ROOT / "params.yaml").read_text()
    assert tree_digest(checkout / "artifacts") | tree_digest(checkout / "results") == before
