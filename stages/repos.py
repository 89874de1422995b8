"""Stage `repos`: write the Triton model repositories of every model for the profile.

    python -m stages.repos --converted artifacts/convert --engines artifacts/engine --out triton_repos/cpu
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.families.criteo.repository import RepoSettings, write_container_repo, write_local_repo


def build(converted: Path, engines: Path, out: Path, params_path: Path) -> None:
    params = load_params(params_path)
    profile = get_profile(params["profile"])
    settings = RepoSettings(params["repos"]["max_batch_size"], params["repos"]["instances"], profile.instance_kind,
                            params["train"]["threads"], params["convert"]["hps_gpucacheper"])
    manifest: dict = {"profile": profile.name, "local": {}, "container": {}}
    with atomic.replace_dir(out) as staging:
        for model in params["train"]["models"]:
            src = converted / model
            if not (src / "dense.onnx").exists():
                raise FileNotFoundError(f"{src}/dense.onnx is missing; run `dvc repro convert`.")
            dim = json.loads((src / "hps" / "layout.json").read_text())["embedding_dim"]
            manifest["local"][model] = write_local_repo(staging / "local", model, src, dim, settings)
            manifest["container"][model] = write_container_repo(staging / "container", model, src, engines / model,
                                                                dim, settings)
            progress("repos", f"{model}: local models {manifest['local'][model]}; container flavour written "
                              f"(TensorRT engine {'linked' if manifest['container'][model]['engine_built'] else 'not built here'})")
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
