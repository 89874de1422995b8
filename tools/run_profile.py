"""Run one profile's measuring stages without DVC (`make deploy-h100` on a GPU host that has neither
DVC nor a package index): the very commands dvc.yaml gives `host@<p>`, `accuracy@<p>`, `perf@<p>`,
`native@<p>` and `tables@<p>`, in that order, read from dvc.yaml. Back on the machine with DVC,
`make record-<p>` enters the results in dvc.lock (`dvc commit`).

    python -m tools.run_profile --profile h100 [--from perf] [--models widedeep] [--tables '*_fp16_*']
"""
from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

from repro import paths

STAGES = ("host", "accuracy", "perf", "native", "tables")
SCOPED = ("accuracy", "perf")   # the stages --models narrows


def stage_commands(dvc_yaml: Path, profile: str, stages: tuple[str, ...] = STAGES,
                   python: str = sys.executable) -> list[tuple[str, list[str]]]:
    """``[(stage@profile, argv)]`` from dvc.yaml's foreach stages, ``${key}`` set to the profile and
    ``python`` standing for dvc.yaml's `python`."""
    spec = yaml.safe_load(dvc_yaml.read_text())["stages"]
    out = []
    for stage in stages:
        cmd = " ".join(spec[stage]["do"]["cmd"].split()).replace("${key}", profile)
        if "${" in cmd:
            raise SystemExit(f"run_profile: {dvc_yaml}: stage {stage}'s command uses variables other than key: {cmd}")
        argv = shlex.split(cmd)
        if argv[0] == "python":
            argv[0] = python
        out.append((f"{stage}@{profile}", argv))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", required=True)
    parser.add_argument("--from", dest="start", choices=STAGES, default=STAGES[0],
                        help="start at this stage (the earlier ones' results are on disk)")
    parser.add_argument("--models", default=None,
                        help="comma-separated: accuracy and perf measure only these and keep the others' results "
                             "(a time-limited host measures a profile in parts)")
    parser.add_argument("--tables", default=None,
                        help="comma-separated table-name patterns (fnmatch): perf measures only these and keeps the "
                             "others' results (one model's sweeps in parts)")
    a = parser.parse_args(argv)
    for name, command in stage_commands(paths.ROOT / "dvc.yaml", a.profile, STAGES[STAGES.index(a.start):]):
        if a.models and name.split("@")[0] in SCOPED:
            command = [*command, "--models", a.models]
        if a.tables and name.split("@")[0] == "perf":
            command = [*command, "--tables", a.tables]
        print(f"[deploy-{a.profile}] {name}: {shlex.join(command[1:])}", file=sys.stderr, flush=True)
        started = time.monotonic()
        rc = subprocess.run(command, cwd=paths.ROOT).returncode
        if rc != 0:
            print(f"[deploy-{a.profile}] {name} failed (exit {rc}); the later stages did not run. Fix it and re-run "
                  f"with FROM={name.split('@')[0]}.", file=sys.stderr)
            return rc
        print(f"[deploy-{a.profile}] {name} done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    print(f"[deploy-{a.profile}] results in results/{a.profile}/; carry them back and run `make record-{a.profile}`",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
