"""The offline comparison page renders in a real browser (headless Chromium; skipped when absent)."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from repro.compare.classify import classify
from repro.compare.render import html_page
from tests.golden.test_compare import load

pytestmark = pytest.mark.e2e
CHROMIUM = next((c for c in ("chromium", "chromium-browser", "google-chrome") if shutil.which(c)), None)


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed (apt-get install chromium)")
def test_comparison_page_renders_offline(tmp_path):
    base, head = load("base.json"), load("head.json")
    page = tmp_path / "report.html"
    page.write_text(html_page("render check", classify(base, head), base, head, ("base", "head")))
    shot = tmp_path / "shot.png"
    proc = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                           "--no-first-run", "--window-size=1400,2400", f"--screenshot={shot}", page.as_uri()],
                          capture_output=True, text=True, timeout=120)
    assert shot.exists(), proc.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000   # a blank page compresses far smaller
