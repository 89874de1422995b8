"""`make setup` / `make runtime-bundle`: install the local Triton runtime (server + perf_analyzer from
PyPI wheels) into .runtime/, or pack it as a bundle for a host without a package index.

    python -m tools.setup_runtime --dest .runtime --cache .cache/wheels
    python -m tools.setup_runtime --bundle dist/triton-runtime-2.51.0-py3.12.tar.xz --cache .cache/wheels --python 3.12
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro.serving.runtime import TRITON_VERSION, RuntimeSetupError, install_runtime, write_bundle


def main() -> None:
    parser = argparse.ArgumentParser(description="Install the local Triton runtime (server + perf_analyzer), "
                                                 "or pack it as a bundle for a host without a package index.")
    parser.add_argument("--dest", type=Path, help="install the runtime here")
    parser.add_argument("--bundle", type=Path, help="write a runtime bundle (tar.xz) here instead")
    parser.add_argument("--cache", type=Path, required=True)
    parser.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                        help="Python version of the backend stub (the Python that runs model code)")
    args = parser.parse_args()
    if args.bundle:
        out = write_bundle(args.cache, args.python, args.bundle)
        print(f"[bundle] {out} ({out.stat().st_size / 2**20:.1f} MiB): unpack with `tar xf {out.name}` and point "
              f"REPRO_RUNTIME at the runtime/ folder")
        return
    if not args.dest:
        parser.error("give --dest or --bundle")
    try:
        runtime = install_runtime(args.dest, args.cache, args.python)
        runtime.check()
    except RuntimeSetupError as exc:
        print(f"setup: error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    print(f"[setup] Triton {TRITON_VERSION} runtime ready at {runtime.root}")


if __name__ == "__main__":
    main()
