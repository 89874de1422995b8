"""Atomic writes: a file or a whole directory appears complete or not at all, and what was there
before survives a failed run. Staging names carry the writer's pid (``.<name>.<pid>.*``), so what a
killed run left behind (SIGKILL, OOM) is recognised and cleared by the next write to the same path."""
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


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def clear_stale(path: Path) -> list[Path]:
    """Remove staging files and folders of ``path`` left by dead writers; if a killed swap left only
    ``.<name>.old``, put it back. Returns what was cleared."""
    cleared = []
    if not path.parent.is_dir():
        return cleared
    old = path.with_name(f".{path.name}.old")
    if old.exists() and not path.exists():
        old.rename(path)
        cleared.append(old)
    for stale in path.parent.glob(f".{path.name}.*"):
        pid = stale.name[len(path.name) + 2:].split(".")[0]
        if stale == old or (pid.isdigit() and not pid_alive(int(pid))):
            shutil.rmtree(stale) if stale.is_dir() else stale.unlink(missing_ok=True)
            cleared.append(stale)
    return cleared


def staging_prefix(path: Path) -> str:
    return f".{path.name}.{os.getpid()}."


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    clear_stale(path)
    fd, tmp = tempfile.mkstemp(prefix=staging_prefix(path), dir=path.parent)
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
    clear_stale(path)
    staging = Path(tempfile.mkdtemp(prefix=staging_prefix(path), dir=path.parent))
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
