"""What a measuring stage serves, as a family's flavour describes it: a repository, the models to
load and query, and the server's options. The stages start the server and measure; the family only
says what to serve and how to score it."""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable


@dataclass(frozen=True)
class ServedGroup:
    """One server start of the perf stage: every model in it is measured in every scenario."""
    name: str                                  # server log: logs/server_<name>.log
    repository: Path
    models: dict[str, dict[str, str]]          # served model -> the labels every row carries (what ran)
    write_inputs: Callable[[Path], None]       # perf_analyzer --input-data JSON
    shared_memory: str = "system"              # system (upstream's protocol) | cuda
    server_args: tuple[str, ...] = ()
    ready_timeout_s: int = 300
    model_stats: Callable[[], dict] = field(default=lambda: {})   # the served model's own timings, after the run
    prepare: Callable[[], None] = field(default=lambda: None)     # on the serving host, before the server starts


def read_model_stats(repo: Path) -> dict:
    """What a served model wrote to ``<model>/stats.json`` in ``repo`` when the server stopped, or nothing."""
    path = next(repo.glob("*/stats.json"), None)
    try:
        return json.loads(path.read_text()) if path else {}
    except json.JSONDecodeError:
        return {}


@dataclass(frozen=True)
class AccuracyCheck:
    """Served models scored against the framework's own score on the same samples."""
    repository: Path
    score: Callable[[str, str], "float | tuple[float, dict]"]   # (grpc url, served model) -> score [, details]
    reference: float                           # the framework's score
    tolerance: float
    samples: int
    gated: dict[str, bool]                     # served model -> whether the gate applies (else reported only)
    metric: str
    note: str = ""
    server_args: tuple[str, ...] = ()
    ready_timeout_s: int = 300
    prepare: Callable[[], None] = field(default=lambda: None)     # on the serving host, before the server starts


def describe_details(details: dict) -> str:
    """What a family reports beside a score (``largest_logit_diff 2.3e-05, top1_served 0.5``), sorted by name."""
    return ", ".join(f"{k} {v:.6g}" if isinstance(v, float) else f"{k} {v}" for k, v in sorted(details.items()))
