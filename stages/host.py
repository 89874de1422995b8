"""Stage `host`: record the fingerprint of the machine that measures a profile (repro.measure.host).
It runs on every `dvc repro` and rewrites the file only when the machine differs, so the measuring
stages that depend on it re-run on a new host and stay up to date on the same one. A GPU profile's
file describes the GPU host that measured it: on a machine without a GPU it is kept as it is.

    python -m stages.host --profile cpu --out results/cpu/host.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import yaml

from repro.cli import progress, run_stage
from repro.errors import UserError
from repro.measure.host import fingerprint, summary


def profile_device(params_path: Path, name: str) -> str:
    """The profile's device, read without the full schema: this stage runs on every `dvc repro` and
    must stay fast (make deploy validates params.yaml before DVC starts)."""
    profiles = (yaml.safe_load(params_path.read_text()) or {}).get("profiles") or {}
    if name not in profiles:
        raise UserError(f"{params_path}: no profile '{name}' under 'profiles' (profiles: {sorted(profiles)})")
    return profiles[name]["device"]


def build(profile_name: str, out: Path, params_path: Path) -> None:
    device = profile_device(params_path, profile_name)
    fp = fingerprint()
    if device == "gpu" and not fp["gpus"]:
        if not out.exists():
            raise UserError(f"profile {profile_name} is measured on a GPU host and {out} does not exist yet: run "
                            f"`make deploy-{profile_name}` there (README: the GPU host), then `make record-{profile_name}` here")
        progress("host", f"{profile_name}: no GPU here; {out} keeps the host that measured it "
                         f"({summary(json.loads(out.read_text()))})")
        return
    text = json.dumps(fp, indent=2, sort_keys=True) + "\n"
    if not out.exists() or out.read_text() != text:
        from repro import atomic    # pandas and friends load only when the file changes
        atomic.write_text(out, text)
        progress("host", f"{profile_name}: new host: {summary(fp)}; the measuring stages re-run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True, help="a profile of params.yaml 'profiles'")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("host", lambda: build(a.profile, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
