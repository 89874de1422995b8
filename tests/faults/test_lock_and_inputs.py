"""Faults: a damaged dvc.lock, missing seed documents, output paths that cannot be written."""
from __future__ import annotations

import subprocess

import pytest

from repro.errors import UserError
from repro.profiles.preflight import check_lock, lock_problem
from stages import published, tables

LOCK = "schema: '2.0'\nstages:\n  data:\n    cmd: x\n  perf:\n    cmd: y\n"


def test_truncated_lock_that_lost_stages_is_refused():
    assert "lost the entries of 1 stage(s) that git HEAD has (perf" in lock_problem(LOCK[:38], LOCK)


def test_lock_that_is_not_yaml_is_refused():
    assert "not valid YAML" in lock_problem("stages:\n  data: [\n", LOCK)


def test_lock_without_stages_is_refused():
    assert "has no 'stages' mapping" in lock_problem("schema: '2.0'\n", LOCK)


def test_stages_that_dvc_yaml_renamed_are_not_lost():
    renamed = "schema: '2.0'\nstages:\n  data:\n    cmd: x\n  perf@cpu:\n    cmd: y\n"
    assert lock_problem(renamed, LOCK, defined={"data", "perf@cpu"}) is None
    assert "perf@cpu" in lock_problem(LOCK, renamed, defined={"data", "perf@cpu"})


def test_an_intact_or_absent_lock_passes():
    assert lock_problem(LOCK, LOCK) is None and lock_problem(None, LOCK) is None


def test_preflight_refuses_a_lock_truncated_since_the_last_commit(tmp_path):
    run = lambda *a: subprocess.run(["git", *a], cwd=tmp_path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    (tmp_path / "dvc.lock").write_text(LOCK)
    run("add", "dvc.lock")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "lock")
    (tmp_path / "dvc.lock").write_text(LOCK[:38])
    with pytest.raises(UserError, match=r"lost the entries (.|\n)* `git checkout dvc.lock`"):
        check_lock(tmp_path)


def test_published_without_seed_documents_names_the_make_variable(tmp_path, capsys):
    assert published.main(["--seeds", str(tmp_path / "nonexistent"), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "SEEDS=" in err and "--seeds" not in err and not (tmp_path / "out").exists()


def test_unwritable_output_path_is_one_line_not_a_traceback(tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("a file where a folder should be")
    code = tables.main(["--profile", "cpu", "--perf", str(tmp_path), "--native", str(tmp_path), "--accuracy", str(tmp_path / "a.json"),
                        "--host", str(tmp_path / "h.json"), "--out", str(blocker / "cpu" / "tables")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("tables: error:") and "Traceback" not in err
