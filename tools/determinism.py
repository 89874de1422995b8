"""`make check-determinism`: force-re-run the generating stages (data, train, convert, engine,
repos) and compare every output hash in dvc.lock with the previous run's. Exit 1 on any difference."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml
from tabulate import tabulate

GENERATING = ("data", "train", "convert", "engine", "repos")


def output_hashes(lock: Path) -> dict[str, str]:
    stages = yaml.safe_load(lock.read_text()).get("stages", {}) if lock.exists() else {}
    return {out["path"]: out.get("md5", "") for name, stage in stages.items() if name.split("@")[0] in GENERATING
            for out in stage.get("outs", [])}


def main() -> int:
    lock = Path("dvc.lock")
    subprocess.run([sys.executable, "-m", "dvc", "repro", "repos"], check=True)
    before = output_hashes(lock)
    subprocess.run([sys.executable, "-m", "dvc", "repro", "--force", "repos"], check=True)
    after = output_hashes(lock)
    rows = [(path, before.get(path, "")[:12], after.get(path, "")[:12],
             "identical" if before.get(path) == after.get(path) else "DIFFERENT") for path in sorted(after)]
    print(tabulate(rows, headers=["output", "first run", "second run", "verdict"], tablefmt="github"))
    different = [r[0] for r in rows if r[3] != "identical"]
    if different:
        print(f"\ndeterminism: {len(different)} output(s) differ: {', '.join(different)}", file=sys.stderr)
        return 1
    print(f"\ndeterminism: all {len(rows)} outputs byte-identical across two clean runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
