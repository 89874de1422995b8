"""Faults: a killed writer leaves staging files and folders; the next write clears them, and a swap
killed half-way gets its earlier results back."""
from __future__ import annotations

import os
import subprocess
import sys

from repro import atomic


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(proc.stdout)


def test_staging_folder_of_a_killed_run_is_cleared_by_the_next_run(tmp_path):
    target = tmp_path / "perf"
    stale = tmp_path / f".perf.{dead_pid()}.abc123"
    stale.mkdir()
    (stale / "half.csv").write_text("1,2\n")
    with atomic.replace_dir(target) as staging:
        (staging / "a.csv").write_text("ok\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["perf"]


def test_temp_file_of_a_killed_writer_is_cleared(tmp_path):
    (tmp_path / f".accuracy.json.{dead_pid()}.xyz").write_text("{")
    atomic.write_text(tmp_path / "accuracy.json", "{}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["accuracy.json"]


def test_a_live_writers_staging_is_left_alone(tmp_path):
    mine = tmp_path / f".perf.{os.getpid()}.live"
    mine.mkdir()
    atomic.write_text(tmp_path / "perf", "x")
    assert mine.exists()


def test_swap_killed_between_its_two_renames_gets_the_earlier_results_back(tmp_path):
    old = tmp_path / ".tables.old"
    old.mkdir()
    (old / "report.md").write_text("earlier\n")
    assert atomic.clear_stale(tmp_path / "tables") == [old]
    assert (tmp_path / "tables" / "report.md").read_text() == "earlier\n"


def test_results_get_the_users_umask_not_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        atomic.write_text(tmp_path / "r" / "a.json", "{}\n")
        with atomic.replace_dir(tmp_path / "d") as staging:
            (staging / "x").write_text("1")
    finally:
        os.umask(previous)
    assert (tmp_path / "r" / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "d").stat().st_mode & 0o777 == 0o755


def test_interrupted_log_writer_leaves_the_tracked_log_as_it_was(tmp_path):
    log = tmp_path / "accuracy_dlrm.log"
    log.write_text("the complete log of the last good run\n")
    try:
        with atomic.staged_file(log) as partial:
            partial.write_text("23 lines of a run cut short\n")
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        pass
    assert log.read_text() == "the complete log of the last good run\n"
    assert (tmp_path / ".accuracy_dlrm.log.partial").exists()       # kept for reading, replaced next run
