"""Shared fixtures. Tests run from the repo root with the project environment (`make test`)."""
from __future__ import annotations

import os

import pytest

# The h100 engines' Triton-language kernels (repro.engines.gpu_kernels) run on CPU tensors through Triton's
# interpreter; it must be chosen before triton is first imported.
os.environ.setdefault("TRITON_INTERPRET", "1")

from repro import paths


@pytest.fixture(scope="session")
def seeds_dir():
    """The published source documents. Missing, they fail the golden checks instead of skipping them:
    a green run must mean the 61 published tables were checked."""
    if not paths.SEEDS.is_dir():
        pytest.fail(f"source documents not found at {paths.SEEDS}: the checkout expects shared/ beside it "
                    "(or set REPRO_SEEDS=<folder with 000_*.txt ...>)", pytrace=False)
    return paths.SEEDS
