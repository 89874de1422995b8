"""Atomic writes: a file or a whole directory appears complete or not at all, and what was there
before survives a failed run."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pandas as pd


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def with_umask(path: Path, mode: int) -> None:
    """tempfile creates 0600 files and 0700 folders; results get the user's usual permissions."""
    os.chmod(path, mode & ~umask())


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with_umask(Path(tmp), 0o666)
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_csv(path: Path, frame: pd.DataFrame) -> None:
    write_text(path, frame.to_csv(index=False, lineterminator="\n"))


@contextmanager
def replace_dir(path: Path) -> Iterator[Path]:
    """Yield a staging directory; on success it replaces ``path`` whole, on failure it is removed
    and ``path`` is left as it was."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    with_umask(staging, 0o777)
    try:
        yield staging
        old = path.with_name(f".{path.name}.old")
        shutil.rmtree(old, ignore_errors=True)
        if path.exists():
            path.rename(old)
        staging.rename(path)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


@contextmanager
def staged_file(path: Path) -> Iterator[Path]:
    """Yield ``.<name>.partial`` beside ``path`` for a writer that appends as it goes (a server log);
    on success it replaces ``path``, on failure or Ctrl-C ``path`` is left as it was and the partial
    file stays for reading."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.unlink(missing_ok=True)
    yield partial
    if partial.exists():
        os.replace(partial, path)
