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
    if not paths.SEEDS.is_dir():
        pytest.skip(f"source documents not found at {paths.SEEDS} (shared/ is expected beside the checkout)")
    return paths.SEEDS
