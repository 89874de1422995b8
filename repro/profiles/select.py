"""`make deploy-<profile>`: check that the profile can run here and select it in params.yaml
(a visible one-line change, so `git diff` and `dvc params diff` show which profile ran)."""
from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

from repro.profiles.catalog import PROFILES, get_profile


def can_run_here(name: str) -> str | None:
    """None when the profile can run on this machine, else the reason and the fix."""
    profile = get_profile(name)
    if profile.runtime == "container" and shutil.which("trtexec") is None:
        return (f"profile '{name}' runs inside its pinned NGC container (TensorFlow, TensorRT, HPS); "
                f"this machine has no TensorRT. See docker/README.md, then run `make deploy-{name}` there.")
    if profile.device == "gpu" and shutil.which("nvidia-smi") is None:
        return f"profile '{name}' needs an NVIDIA GPU and none is visible here; use `make deploy` (cpu profile)."
    return None


def select(params: Path, name: str) -> bool:
    """Set ``profile:`` in params.yaml; True when it changed."""
    text = params.read_text()
    new = re.sub(r"^profile:\s*\S+", f"profile: {name}", text, count=1, flags=re.MULTILINE)
    if new == text:
        return False
    params.write_text(new)
    return True
