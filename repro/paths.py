"""The one module that knows where things live. Everything else asks here."""
from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
# The Triton runtime: made by `make setup`, or an unpacked runtime bundle named by REPRO_RUNTIME.
RUNTIME = Path(os.environ.get("REPRO_RUNTIME") or ROOT / ".runtime")
WHEEL_CACHE = ROOT / ".cache" / "wheels"

SEEDS = Path(os.environ.get("REPRO_SEEDS") or ROOT.parent / "shared" / "seeds")   # the published documents

RESULTS = ROOT / "results"
PUBLISHED = RESULTS / "published"
PUBLISHED_INDEX = PUBLISHED / "index.csv"

ARTIFACTS = ROOT / "artifacts"
TRITON_REPOS = ROOT / "triton_repos"


def results_dir(profile: str) -> Path:
    """Measured results of one GPU profile (``results/<profile>/``)."""
    return RESULTS / profile


# The h100 profile: what `make h100-kit` packs on a machine with the full environment, carried to a
# GPU host without a package index, and where `make deploy-h100` unpacks and serves it there.
H100_KIT = ROOT / "dist" / "h100"
H100_WORK = ROOT / ".h100"            # unpacked runtime, installed client wheels, repositories
