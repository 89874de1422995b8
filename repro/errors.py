"""The one base class of errors a user can fix. Its message names the file or field, what was wrong
and what to do; stages print it and exit 2 instead of showing a traceback (repro.cli)."""
from __future__ import annotations


class UserError(ValueError):
    """Bad input, a bad parameter or a missing prerequisite: the message says where and how to fix it."""
