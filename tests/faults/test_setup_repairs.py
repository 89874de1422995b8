"""Faults: a runtime with a file missing is repaired by `make setup` (which `make doctor` advises)."""
from __future__ import annotations

import subprocess

import pytest

from repro import paths

pytestmark = pytest.mark.e2e


def test_make_setup_reinstalls_a_runtime_that_lost_perf_analyzer(tmp_path):
    for name in ("Makefile", "repro", "stages", "tools", "requirements.lock", ".venv", ".cache"):
        (tmp_path / name).symlink_to(paths.ROOT / name)
    subprocess.run(["cp", "-al", str(paths.ROOT / ".runtime"), str(tmp_path / ".runtime")], check=True)
    (tmp_path / ".runtime" / "bin" / "perf_analyzer").unlink()
    out = subprocess.run(["make", "--no-print-directory", "setup"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    assert "the runtime lacks .runtime/bin/perf_analyzer; reinstalling it" in out.stdout
    assert (tmp_path / ".runtime" / "bin" / "perf_analyzer").exists()
    again = subprocess.run(["make", "--no-print-directory", "setup"], cwd=tmp_path, capture_output=True, text=True)
    assert "Nothing to be done" in again.stdout or again.stdout.strip() == ""
