"""`make deploy-<profile>`: check that the profile can run here and select it in params.yaml.

    python -m tools.select_profile <profile>
"""
from __future__ import annotations

import sys
from pathlib import Path

from repro.profiles.catalog import PROFILES
from repro.profiles.select import can_run_here, select


def main(argv: list[str]) -> int:
    name = argv[0] if argv else ""
    if name not in PROFILES:
        print(f"deploy: unknown profile '{name}'; choose one of {sorted(PROFILES)} (make deploy-<profile>).",
              file=sys.stderr)
        return 2
    reason = can_run_here(name)
    if reason:
        print(f"deploy: {reason}", file=sys.stderr)
        return 2
    if select(Path("params.yaml"), name):
        print(f"deploy: params.yaml now selects profile '{name}'")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
