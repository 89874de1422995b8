"""Stage `host`: record this machine's fingerprint (repro.measure.host). It runs on every `dvc repro`
and rewrites the file only when the machine differs, so the measuring stages that depend on it re-run
on a new host and stay up to date on the same one.

    python -m stages.host --out results/cpu/host.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.measure.host import fingerprint, summary


def build(out: Path) -> None:
    fp = fingerprint()
    text = json.dumps(fp, indent=2, sort_keys=True) + "\n"
    if not out.exists() or out.read_text() != text:
        atomic.write_text(out, text)
        progress("host", f"new host: {summary(fp)}; the measuring stages re-run")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args(argv)
    return run_stage("host", lambda: build(a.out))


if __name__ == "__main__":
    sys.exit(main())
