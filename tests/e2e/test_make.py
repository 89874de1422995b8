"""The Makefile targets a user types."""
from __future__ import annotations

import subprocess

import pytest

from repro import paths

pytestmark = pytest.mark.e2e


def make(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["make", "--no-print-directory", *args], cwd=paths.ROOT, capture_output=True, text=True,
                          timeout=600)


def test_help_is_default_and_lists_public_targets():
    out = make()
    assert out.returncode == 0
    for target in ("setup", "doctor", "test", "published"):
        assert f" {target} " in out.stdout
    assert "_venv" not in out.stdout


def test_doctor_reports_triton_and_perf_analyzer():
    out = make("doctor")
    assert out.returncode == 0, out.stdout + out.stderr
    assert "triton 2.51.0" in out.stdout
    assert "Perf Analyzer Version 2.51.0" in out.stdout
