"""What every stage's main() shares: one error boundary that turns known errors into a clear
message and exit code 2, and prints progress to stderr."""
from __future__ import annotations

import sys
from typing import Callable

from repro.checkpoint import CheckpointError
from repro.criteo import DataFormatError
from repro.params import ParamsError

KNOWN_ERRORS: tuple[type[BaseException], ...] = (ParamsError, DataFormatError, CheckpointError, ValueError,
                                                 FileNotFoundError, RuntimeError)


def run_stage(name: str, body: Callable[[], None]) -> int:
    try:
        body()
    except KNOWN_ERRORS as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{name}: interrupted; earlier results are unchanged.", file=sys.stderr)
        return 130
    return 0


def progress(stage: str, message: str) -> None:
    print(f"[{stage}] {message}", file=sys.stderr, flush=True)
