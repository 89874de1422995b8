"""`make h100-kit` (here) and the first step of `make deploy-h100` (on the GPU host): build or unpack
the h100 kit (runtime bundle and client wheels; carried with triton_repos/h100).

    python -m tools.h100_kit build --out dist/h100 --python 3.12 --repos triton_repos/h100 [--parts widedeep,resnet50]
    python -m tools.h100_kit unpack --kit dist/h100 --work .h100
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import paths
from repro.profiles.h100.kit import build, check_repositories, unpack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("--out", type=Path, default=paths.H100_KIT)
    b.add_argument("--python", default="3.12")
    b.add_argument("--repos", type=Path, default=paths.TRITON_REPOS / "h100")
    b.add_argument("--parts", default=None, help="comma-separated top-level folders of the repositories to carry "
                                                 "(one run's models; default: all)")
    u = sub.add_parser("unpack")
    u.add_argument("--kit", type=Path, default=paths.H100_KIT)
    u.add_argument("--work", type=Path, default=paths.H100_WORK)
    a = parser.parse_args(argv)
    if a.command == "build":
        build(a.out, a.python, a.repos, [p for p in a.parts.split(",") if p] if a.parts else None)
    else:
        unpack(a.kit, a.work)
        check_repositories(a.kit, paths.ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
