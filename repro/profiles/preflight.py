"""Before `dvc repro` runs anything: params.yaml is valid, selects the profile the user asked for,
and that profile can run on this machine. Nothing is changed; every refusal says why and what to do."""
from __future__ import annotations

import shutil
from pathlib import Path

from repro.errors import UserError
from repro.params import load_params
from repro.profiles.catalog import PROFILES, Profile, get_profile


def can_run_here(profile: Profile) -> str | None:
    """None when the profile can run on this machine, else the reason and the fix."""
    if profile.runtime == "container" and shutil.which("trtexec") is None:
        return (f"profile '{profile.name}' runs inside its pinned NGC container (TensorFlow, TensorRT, HPS); "
                f"this machine has no TensorRT. See docker/README.md, then run `make deploy-{profile.name}` there.")
    if profile.device == "gpu" and shutil.which("nvidia-smi") is None:
        return (f"profile '{profile.name}' needs an NVIDIA GPU and none is visible here; "
                "use `make deploy` (cpu profile).")
    return None


def preflight(params_path: Path, wanted: str | None) -> Profile:
    """The profile to run; raises UserError when params.yaml is invalid or selects another profile."""
    if wanted is not None and wanted not in PROFILES:
        raise UserError(f"unknown profile '{wanted}'; choose one of {sorted(PROFILES)} (make deploy-<profile>).")
    params = load_params(params_path)
    if wanted is not None and params["profile"] != wanted:
        raise UserError(f"{params_path} selects profile '{params['profile']}', not '{wanted}'. Set "
                        f"`profile: {wanted}` there (a visible change that `dvc params diff` shows), or run "
                        f"`make deploy-{params['profile']}`.")
    profile = get_profile(params["profile"])
    reason = can_run_here(profile)
    if reason:
        raise UserError(reason)
    return profile
