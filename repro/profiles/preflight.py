"""Before `dvc repro` runs anything: params.yaml is valid, selects the profile the user asked for,
and that profile can run on this machine. Nothing is changed; every refusal says why and what to do."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

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


def lock_problem(text: str | None, committed: str | None, lock: str = "dvc.lock") -> str | None:
    """Why ``dvc.lock`` cannot be trusted, or None. A damaged lock would make DVC re-run (and
    overwrite) every stage it no longer describes, so it is refused rather than silently replaced."""
    if text is None:
        return None                       # no lock yet: a first run
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return f"{lock} is not valid YAML ({str(exc).splitlines()[0]})"
    if not isinstance(data, dict) or not isinstance(data.get("stages"), dict):
        return f"{lock} has no 'stages' mapping"
    try:
        before = (yaml.safe_load(committed) or {}).get("stages", {}) if committed else {}
    except yaml.YAMLError:
        before = {}
    lost = sorted(set(before) - set(data["stages"]))
    if lost:
        return f"{lock} lost the entries of {len(lost)} stage(s) that git HEAD has ({', '.join(lost[:6])}...)"
    return None


def check_lock(root: Path) -> None:
    lock = root / "dvc.lock"
    committed = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True, text=True)
    problem = lock_problem(lock.read_text() if lock.exists() else None,
                           committed.stdout if committed.returncode == 0 else None)
    if problem:
        raise UserError(f"{problem}. DVC would re-run every stage it no longer describes and overwrite their "
                        "results. Restore it with `git checkout dvc.lock`, or delete it to re-run everything.")


def preflight(params_path: Path, wanted: str | None) -> Profile:
    """The profile to run; raises UserError when params.yaml is invalid or selects another profile."""
    if wanted is not None and wanted not in PROFILES:
        raise UserError(f"unknown profile '{wanted}'; choose one of {sorted(PROFILES)} (make deploy-<profile>).")
    params = load_params(params_path)
    if wanted is not None and params["profile"] != wanted:
        raise UserError(f"{params_path} selects profile '{params['profile']}', not '{wanted}'. Set "
                        f"`profile: {wanted}` there (a visible change that `dvc params diff` shows), or run "
                        f"`make deploy-{params['profile']}`.")
    check_lock(params_path.resolve().parent)
    profile = get_profile(params["profile"])
    reason = can_run_here(profile)
    if reason:
        raise UserError(reason)
    return profile
