"""Before `dvc repro` runs anything: params.yaml is valid, selects the profile the user asked for,
and that profile can run on this machine. Nothing is changed; every refusal says why and what to do."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import yaml

from repro.errors import UserError
from repro.params import load_params
from repro.profiles.catalog import Profile, get_profile


def can_run_here(profile: Profile) -> str | None:
    """None when the profile can run on this machine under DVC, else the reason and the fix."""
    if profile.runtime == "container":
        return (f"profile '{profile.name}' ({profile.hardware}) runs inside upstream's pinned images on a host with "
                f"that GPU and docker or podman; running that plan from make is not wired yet (docker/README.md). "
                f"`make deploy-{profile.name} DRY_RUN=1` prints every command it runs, in order, on any machine.")
    if profile.runtime == "bundle":
        return (f"profile '{profile.name}' is measured on a GPU host without DVC or a package index: here, "
                f"`make h100-kit` writes its repositories and packs the kit; there, `make deploy-{profile.name}`; "
                f"back here, `make record-{profile.name}` (README: the GPU host).")
    if profile.device == "gpu" and shutil.which("nvidia-smi") is None:
        return (f"profile '{profile.name}' needs an NVIDIA GPU and none is visible here; "
                "use `make deploy` (cpu profile).")
    return None


def defined_stages(root: Path) -> set[str] | None:
    """Stage names dvc.yaml defines now (foreach over a params.yaml mapping expanded to name@key);
    None when that cannot be read (then every stage the lock lost counts)."""
    try:
        spec = yaml.safe_load((root / "dvc.yaml").read_text()) or {}
        params = yaml.safe_load((root / "params.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        return None
    names = set()
    for name, stage in (spec.get("stages") or {}).items():
        over = stage.get("foreach") if isinstance(stage, dict) else None
        if isinstance(over, str) and over.startswith("${") and isinstance(params.get(over[2:-1]), dict):
            names |= {f"{name}@{key}" for key in params[over[2:-1]]}
        else:
            names.add(name)
    return names


def lock_problem(text: str | None, committed: str | None, lock: str = "dvc.lock",
                 defined: set[str] | None = None) -> str | None:
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
    lost = sorted(set(before) - set(data["stages"]) - (set(before) - defined if defined is not None else set()))
    if lost:
        return f"{lock} lost the entries of {len(lost)} stage(s) that git HEAD has ({', '.join(lost[:6])}...)"
    return None


def check_lock(root: Path) -> None:
    lock = root / "dvc.lock"
    committed = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=root, capture_output=True, text=True)
    problem = lock_problem(lock.read_text() if lock.exists() else None,
                           committed.stdout if committed.returncode == 0 else None, defined=defined_stages(root))
    if problem:
        raise UserError(f"{problem}. DVC would re-run every stage it no longer describes and overwrite their "
                        "results. Restore it with `git checkout dvc.lock`, or delete it to re-run everything.")


def preflight(params_path: Path, wanted: str | None) -> Profile | None:
    """The profile to run (None: only validate); raises UserError when params.yaml is invalid, the
    profile is unknown, dvc.lock is damaged, or the profile cannot run here."""
    params = load_params(params_path)
    if wanted is None:
        return None
    profile = get_profile(params, wanted)
    check_lock(params_path.resolve().parent)
    reason = can_run_here(profile)
    if reason:
        raise UserError(reason)
    return profile
