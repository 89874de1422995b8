"""Load measured results at a git revision (or the workspace) without re-running anything.

Measured results are small tracked files (DVC outputs with cache: false), so git holds them at
every commit: ``git show <rev>:results/<profile>/perf/...``.
"""
from __future__ import annotations

import json
import subprocess
from io import StringIO
from pathlib import Path

import pandas as pd

from repro import paths
from repro.measure.host import summary
from repro.measure.metrics import COMPARED, canonical
from repro.measure.scenarios import point_name
from repro.compare.classify import LABEL_FIELDS, Row
from repro.errors import UserError

COMPARED_SETTINGS = ("concurrency", "measurement_interval_ms", "stability_percentage", "max_trials", "retries",
                     "preset", "precision")


class RevisionError(UserError):
    """Unknown revision, missing results or mismatched profiles (exit code 2, distinct from 'worse')."""


def git(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=paths.ROOT, capture_output=True, text=True)


def resolve(rev: str | None) -> str | None:
    """Commit id of ``rev``; None means the workspace."""
    if rev in (None, "", "WORKSPACE", "workspace"):
        return None
    out = git("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if out.returncode != 0:
        raise RevisionError(f"unknown revision '{rev}': not a commit in this repository (try `git log --oneline`).")
    return out.stdout.strip()


def read_text(commit: str | None, path: str) -> str | None:
    if commit is None:
        file = paths.ROOT / path
        return file.read_text() if file.exists() else None
    out = git("show", f"{commit}:{path}")
    return out.stdout if out.returncode == 0 else None


def list_files(commit: str | None, folder: str) -> list[str]:
    if commit is None:
        root = paths.ROOT / folder
        return sorted(str(p.relative_to(paths.ROOT)) for p in root.iterdir() if p.is_file()) if root.is_dir() else []
    out = git("ls-tree", "--name-only", f"{commit}:{folder}")
    return [f"{folder}/{name}" for name in out.stdout.split()] if out.returncode == 0 else []


def describe(commit: str | None) -> str:
    return "workspace" if commit is None else commit[:10]


def load_rows(commit: str | None, profile: str) -> list[Row]:
    folder = f"results/{profile}/perf"
    settings_text = read_text(commit, f"{folder}/settings.json")
    if settings_text is None:
        raise RevisionError(f"no measured results for profile '{profile}' at {describe(commit)} "
                            f"({folder}/settings.json missing); run `make deploy-{profile}` there first.")
    settings = json.loads(settings_text)
    if settings.get("profile") != profile:
        raise RevisionError(f"{folder}/settings.json at {describe(commit)} is for profile "
                            f"'{settings.get('profile')}', not '{profile}'.")
    compared = {k: settings.get(k) for k in COMPARED_SETTINGS}
    host_text = read_text(commit, f"results/{profile}/host.json")
    host = summary(json.loads(host_text) if host_text else None)
    rows = []
    for path in list_files(commit, folder):
        name = Path(path).name
        if not name.endswith(".csv") or name.endswith("_breakdown.csv"):
            continue
        frame = canonical(pd.read_csv(StringIO(read_text(commit, path) or "")))
        for _, r in frame.iterrows():
            point = point_name(name[:-4], int(r["batch"]), int(r["concurrency"]))
            samples = read_text(commit, f"{folder}/samples/{point}.json")
            rows.append(Row(name[:-4], int(r["batch"]), int(r["concurrency"]),
                            {m.name: float(r[m.name]) for m in COMPARED},
                            json.loads(samples) if samples else {},
                            {**{f: str(r[f]) for f in LABEL_FIELDS if f in r}, "host": host}, compared))
    return rows
