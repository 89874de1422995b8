"""Golden tests for `make compare`: stored pairs of result sets (tests/golden/compare/*.json) ->
the expected verdict report (tests/golden/compare/expected.md). Every verdict is covered, including
not comparable and a regression that makes the command exit 1.

Regenerate the expected report after an intended rendering change with:
    REGENERATE_GOLDEN=1 make test PYTEST_ARGS=tests/golden/test_compare.py
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tools import compare as compare_cli
from repro.compare.classify import BETTER, INCONCLUSIVE, NOT_COMPARABLE, SAME, WORSE, Row, classify, has_regression
from repro.compare.render import html_page, markdown
from repro.compare.revisions import RevisionError

HERE = Path(__file__).parent / "compare"


def load(name: str) -> list[Row]:
    return [Row(**r) for r in json.loads((HERE / name).read_text())]


@pytest.fixture()
def verdicts():
    return classify(load("base.json"), load("head.json"))


def by(verdicts, table, batch, metric="throughput_infer_per_s"):
    return next(v for v in verdicts if (v.table, v.batch, v.metric) == (table, batch, metric))


def test_every_verdict(verdicts):
    assert by(verdicts, "dlrm_hps", 256).verdict == BETTER
    assert by(verdicts, "dlrm_hps", 1024).verdict == WORSE
    assert by(verdicts, "dlrm_hps", 4096).verdict == SAME            # within the noise factor
    thin = by(verdicts, "dlrm_tf", 256)                               # 2 windows a side: cannot be tested
    assert thin.verdict == INCONCLUSIVE and "2 vs 2 windows: too few to test" in thin.reason
    tail = by(verdicts, "dlrm_tf", 256, "latency_p99_us")            # p99 of 40 requests: no tail estimate
    assert tail.verdict == INCONCLUSIVE and "40 vs 40 requests" in tail.reason
    engine = by(verdicts, "dlrm_tf", 1024)
    assert engine.verdict == NOT_COMPARABLE and "engine" in engine.reason
    settings = by(verdicts, "dlrm_tf", 4096)
    assert settings.verdict == NOT_COMPARABLE and "engine" in settings.reason
    missing = by(verdicts, "dcnv2_tf", 256)
    assert missing.verdict == NOT_COMPARABLE and missing.reason == "no row at head"
    worse_tail = by(verdicts, "dlrm_hps", 1024, "latency_p99_us")     # disjoint bootstrap intervals of p99
    assert worse_tail.verdict == WORSE and "do not overlap" in worse_tail.reason
    assert has_regression(verdicts)


def test_report_matches_golden(verdicts):
    text = markdown("golden", verdicts)
    expected = HERE / "expected.md"
    if os.environ.get("REGENERATE_GOLDEN"):
        expected.write_text(text)
    assert text == expected.read_text()


def test_html_is_offline(verdicts):
    page = html_page("golden", verdicts, load("base.json"), load("head.json"), ("base", "head"))
    assert "<svg" in page and "<script" not in page
    for fetch in ('src="http', "src='http", 'href="http', "href='http", "url(http", "url('http", "@import", "@font-face"):
        assert fetch not in page, f"the page would fetch something: {fetch}"


def test_regression_exits_1(monkeypatch, tmp_path):
    monkeypatch.setattr(compare_cli, "REPORTS", tmp_path)
    monkeypatch.setattr(compare_cli, "resolve", lambda rev: None if rev is None else "a" * 40)
    monkeypatch.setattr(compare_cli, "load_rows", lambda commit, gpu: load("base.json") if commit else load("head.json"))
    assert compare_cli.main(["revisions", "--base", "HEAD~1"]) == 1
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".html", ".md"]
    report = next(tmp_path.glob("*.md")).read_text()   # the cpu profile's calibrated envelope, with its source
    assert "Run-to-run envelope: throughput_infer_per_s x1.31" in report and "make calibrate-compare" in report


def test_each_metric_has_its_own_envelope():
    """A change inside a metric's run-to-run envelope is no change, however small its p-value."""
    wide = {"throughput_infer_per_s": 1.5, "latency_p50_us": 1.1, "latency_p99_us": 1.1}
    verdicts = classify(load("base.json"), load("head.json"), noise=wide)
    assert by(verdicts, "dlrm_hps", 256).verdict == SAME            # x1.29 throughput: inside x1.5
    assert by(verdicts, "dlrm_hps", 256, "latency_p50_us").verdict == BETTER


def test_no_regression_exits_0(monkeypatch, tmp_path):
    monkeypatch.setattr(compare_cli, "REPORTS", tmp_path)
    monkeypatch.setattr(compare_cli, "resolve", lambda rev: None if rev is None else "a" * 40)
    monkeypatch.setattr(compare_cli, "load_rows", lambda commit, gpu: load("base.json"))
    assert compare_cli.main(["revisions", "--base", "HEAD~1"]) == 0


def test_unknown_revision_exits_2(capsys):
    assert compare_cli.main(["revisions", "--base", "no-such-rev-xyz"]) == 2
    assert "unknown revision 'no-such-rev-xyz'" in capsys.readouterr().err


def test_missing_results_at_revision_exits_2(capsys):
    first = os.popen("git rev-list --max-parents=0 HEAD").read().split()[0]
    assert compare_cli.main(["revisions", "--base", first, "--gpu", "cpu"]) == 2
    assert "no measured results for profile 'cpu'" in capsys.readouterr().err


def test_mismatched_profile_exits_2(capsys):
    assert compare_cli.main(["revisions", "--base", "HEAD", "--gpu", "a30"]) == 2
    assert "profile 'a30'" in capsys.readouterr().err


def test_revision_error_type():
    from repro.compare.revisions import resolve
    with pytest.raises(RevisionError):
        resolve("definitely-not-a-ref")
