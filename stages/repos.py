"""Stage `repos`: write the Triton model repositories of every model for the profile
(`local/`: runnable here; `container/`: what upstream serves), written by each model's family.

    python -m stages.repos --converted artifacts/convert --engines artifacts/engine --out triton_repos/cpu
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.families import family_of
from repro.params import load_params
from repro.profiles.catalog import get_profile


def build(converted: Path, engines: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params["profile"])
    manifest: dict = {"profile": profile.name, "local": {}, "container": {}}
    with atomic.replace_dir(out) as staging:
        for model in params["models"]:
            written = family_of(params, model).write_repositories(model, converted / model, engines / model, params,
                                                                  profile.instance_kind, staging)
            manifest["local"][model], manifest["container"][model] = written["local"], written["container"]
            progress("repos", f"{model}: local models {written['local']}; container flavour written (TensorRT "
                              f"engine {'linked' if written['container']['engine_built'] else 'not built here'})")
        (staging / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for flag in ("--converted", "--engines", "--out"):
        parser.add_argument(flag, type=Path, required=True)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    a = parser.parse_args(argv)
    return run_stage("repos", lambda: build(a.converted, a.engines, a.out, a.params))


if __name__ == "__main__":
    sys.exit(main())
