"""`make check-params` (and the first step of `make deploy-<profile>`): validate params.yaml before
DVC runs anything, so a bad value never costs an output; with --profile, also check that params.yaml
names a profile params.yaml describes and that can run here.

    python -m tools.check_params [--params params.yaml] [--profile cpu]

Exit codes: 0 valid, 2 invalid (every problem printed with its key and the fix).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro.errors import UserError
from repro.profiles.preflight import preflight


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--profile", help="the profile `make deploy-<profile>` asked for")
    a = parser.parse_args(argv)
    try:
        profile = preflight(a.params, a.profile)
    except UserError as exc:
        print(f"check-params: error: {exc}", file=sys.stderr)
        return 2
    print(f"[deploy] {a.params} is valid" + (f"; running profile {profile.label}: dvc repro tables@{profile.name}"
                                              if profile else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
