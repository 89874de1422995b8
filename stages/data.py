"""Stage `data`: synthesize the Criteo-like dataset in the upstream binary split format.

    python -m stages.data --params params.yaml --out artifacts/data
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.families.criteo.dataset import feature_spec, read_split, write_dataset
from repro.params import load_params
from repro.families.criteo.presets import NUM_NUMERICAL, get_preset
from repro.families.criteo.synthetic import make_dataset


def build(params_path: Path, out: Path) -> None:
    params = load_params(params_path)
    preset = get_preset(params["data"]["preset"])
    progress("data", f"preset {preset.name}: {preset.train_samples} train + {preset.test_samples} test samples, "
                     f"26 tables, {sum(preset.cardinalities):,} rows")
    splits = make_dataset(params["seed"], list(preset.cardinalities), preset.train_samples, preset.test_samples,
                          NUM_NUMERICAL)
    spec = feature_spec(list(preset.cardinalities), NUM_NUMERICAL)
    with atomic.replace_dir(out) as staging:
        write_dataset(staging, spec, splits)
        read_split(staging, "test")  # the reader must accept what was written
    progress("data", f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return run_stage("data", lambda: build(args.params, args.out))


if __name__ == "__main__":
    sys.exit(main())
