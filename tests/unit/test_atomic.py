from __future__ import annotations

import pytest

from repro import atomic


def test_replace_dir_keeps_old_content_on_failure(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "a.txt").write_text("old")
    with pytest.raises(RuntimeError):
        with atomic.replace_dir(target) as staging:
            (staging / "a.txt").write_text("new")
            raise RuntimeError("boom")
    assert (target / "a.txt").read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_replace_dir_swaps_in_new_content(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("old")
    with atomic.replace_dir(target) as staging:
        (staging / "a.txt").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["a.txt"]


def test_write_text_leaves_no_temp_files(tmp_path):
    atomic.write_text(tmp_path / "x" / "f.txt", "hello\n")
    assert [p.name for p in (tmp_path / "x").iterdir()] == ["f.txt"]
