"""Shared fixtures. Tests run from the repo root with the project environment (`make test`)."""
from __future__ import annotations

import pytest

from repro import paths


@pytest.fixture(scope="session")
def seeds_dir():
    if not paths.SEEDS.is_dir():
        pytest.skip(f"source documents not found at {paths.SEEDS} (shared/ is expected beside the checkout)")
    return paths.SEEDS
