"""`make bench`: the pipeline's own benchmark. Prints the cold cpu pipeline time (every stage of the cpu
profile forced to re-run, setup excluded), the no-op times of `dvc repro tables@cpu` and of `dvc repro`
(every profile), and the measured cpu DLRM offline tables."""
from __future__ import annotations

import subprocess
import sys
import time

from repro import paths

TARGETS = {"cold cpu pipeline (dvc repro --force tables@cpu)": 600.0, "no-op dvc repro tables@cpu": 3.0,
           "no-op dvc repro (every profile)": 3.0}


def timed(args: list[str]) -> float:
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "dvc", *args], check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def main() -> int:
    cold = timed(["repro", "--force", "tables@cpu"])
    noop = timed(["repro", "tables@cpu"])
    every = timed(["repro"])
    print("| measurement | seconds | target |\n|---|---:|---:|")
    for (name, target), value in zip(TARGETS.items(), (cold, noop, every)):
        print(f"| {name} | {value:.1f} | <= {target:g} |")
    profile_tables = paths.results_dir("cpu") / "tables"
    for name in ("dlrm_tf.md", "dlrm_hps.md"):
        path = profile_tables / name
        print("\n" + (path.read_text() if path.exists() else f"({path} missing: run `make deploy`)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
