"""Stage `data`: synthesize each model family's dataset in its upstream format (artifacts/data/<family>/).

    python -m stages.data --params params.yaml --out artifacts/data
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.families import families_in_use
from repro.params import load_params


def build(params_path: Path, out: Path) -> None:
    params = load_params(params_path)
    with atomic.replace_dir(out) as staging:
        for family in families_in_use(params):
            summary = family.synthesize(params, staging / family.name)
            progress("data", f"{family.name}: {summary}")
    progress("data", f"wrote {out}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    return run_stage("data", lambda: build(args.params, args.out))


if __name__ == "__main__":
    sys.exit(main())
