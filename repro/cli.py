"""What every stage's main() shares: one error boundary that turns known errors into a clear
message and exit code 2, and prints progress to stderr."""
from __future__ import annotations

import sys
from typing import Callable

from repro.errors import UserError

# Errors a stage reports in one line (exit 2) instead of a traceback: the user's own errors, and the
# failures of the tools a stage drives (the server, perf_analyzer, the file system) whose message
# names the file or the step.
KNOWN_ERRORS: tuple[type[BaseException], ...] = (UserError, ValueError, FileNotFoundError, RuntimeError, OSError)


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
