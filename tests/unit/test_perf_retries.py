"""perf_analyzer's exit code does not prove stability: the retry logic reads its output. A scripted
stand-in for the binary (test only) plays an instrument that never stabilises at the strict criterion."""
from __future__ import annotations

import stat

import pytest

from repro.measure.perf_analyzer import RELAXED_STABILITY, PerfError, PerfSettings, measure
from repro.measure.statistics import evidence
from repro.serving.runtime import Runtime

FAKE = """#!/usr/bin/env python3
import sys
args = sys.argv[1:]
value = lambda flag: args[args.index(flag) + 1]
with open(value("-f") + ".calls", "a") as fh:
    fh.write(value("--measurement-interval") + " " + value("--stability-percentage") + "\\n")
if value("--stability-percentage") != "{relaxed}" or "{never}" == "yes":
    print("Failed to obtain stable measurement within 10 stability windows for concurrency 1.")
    sys.exit(0)
export = "" if "{empty_export}" == "yes" else ('{"experiments": [{"requests": [{"timestamp": 0, '
    '"response_timestamps": [1000000]}], "window_boundaries": [0, 2000000]}]}')
open(value("--profile-export-file"), "w").write(export)
if "{passes}" == "yes":
    print("Request concurrency: 1\\n  Pass [1] throughput: 1000 infer/sec. Avg latency: 64000 usec (std 1 usec). \\n"
          "  Pass [2] throughput: 1.1e+03 infer/sec. Avg latency: 60000 usec (std 1 usec). \\n"
          "  Pass [3] throughput: 900.5 infer/sec. Avg latency: 70000 usec (std 1 usec). \\n"
          "  Pass [4] throughput: 1000 infer/sec. Avg latency: 64000 usec (std 1 usec). \\n"
          "  Client: \\n    Request count: 47\\n    Throughput: 1000 infer/sec")
open(value("-f"), "w").write("Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,"
    "Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,p90 latency,"
    "p95 latency,p99 latency\\n1,1000,1,2,3,4,5,6,7,8,9,10,11\\n")
"""


def fake_runtime(tmp_path, never: bool, empty_export: bool = False, passes: bool = False) -> Runtime:
    binary = tmp_path / "rt" / "bin" / "perf_analyzer"
    binary.parent.mkdir(parents=True)
    binary.write_text(FAKE.replace("{relaxed}", str(RELAXED_STABILITY)).replace("{never}", "yes" if never else "no")
                      .replace("{empty_export}", "yes" if empty_export else "no")
                      .replace("{passes}", "yes" if passes else "no"))
    binary.chmod(binary.stat().st_mode | stat.S_IEXEC)
    return Runtime(tmp_path / "rt")


def test_unstable_rows_are_retried_longer_then_kept_and_marked(tmp_path):
    runtime = fake_runtime(tmp_path, never=False)
    m = measure(runtime, "m", "127.0.0.1:1", 64, tmp_path / "out", tmp_path / "in.json", PerfSettings(1, 500, 10, 5, 2))
    calls = (tmp_path / "out" / "m_b64.csv.calls").read_text().split("\n")[:-1]
    assert calls == ["500 10", "1000 10", "2000 10", f"2000 {RELAXED_STABILITY}"]
    assert m.stable is False and m.attempts == 4 and m.csv.exists()
    assert "stability relaxed" in m.log.read_text()
    # 64 inferences in 2 ms per window; one window per run, so two top-up runs (the most) add theirs
    assert m.samples == {"throughput": [32000.0] * 3, "latency_us": [1000.0] * 3, "requests": 3, "runs": 3}
    topups = (tmp_path / "out" / "m_b64.topup.csv.calls").read_text().split("\n")[:-1]
    assert topups == [f"2000 {RELAXED_STABILITY}"] * 2 and "top-up 2 for more windows" in m.log.read_text()
    assert not (tmp_path / "out" / "m_b64.topup.csv").exists()


def test_unusable_export_is_retaken_once_and_the_row_kept(tmp_path):
    runtime = fake_runtime(tmp_path, never=False, empty_export=True)
    m = measure(runtime, "m", "127.0.0.1:1", 64, tmp_path / "out", tmp_path / "in.json", PerfSettings(1, 500, 10, 5, 0))
    calls = (tmp_path / "out" / "m_b64.csv.calls").read_text().split("\n")[:-1]
    assert calls == ["500 10", f"500 {RELAXED_STABILITY}", f"500 {RELAXED_STABILITY}"]
    assert m.samples == {} and m.csv.exists() and "retaken for its samples" in m.log.read_text()
    assert "not usable" in m.log.read_text()


def test_unusable_export_takes_its_windows_from_the_verbose_passes(tmp_path):
    """perf_analyzer 2.51 loses the export of system-shared-memory runs with many FP32 inputs: the windows
    then come from its -v report (no retake), and there are no per-request latencies (no p99 interval)."""
    runtime = fake_runtime(tmp_path, never=False, empty_export=True, passes=True)
    m = measure(runtime, "m", "127.0.0.1:1", 64, tmp_path / "out", tmp_path / "in.json", PerfSettings(1, 500, 10, 5, 0))
    calls = (tmp_path / "out" / "m_b64.csv.calls").read_text().split("\n")[:-1]
    assert calls == ["500 10", f"500 {RELAXED_STABILITY}"]       # no retake, no top-up: 4 windows suffice
    assert m.samples["throughput"] == [1000.0, 1100.0, 900.5, 1000.0] and m.samples["latency_us"] == []
    assert m.samples["requests"] == 47 and "passes" in m.samples["source"]
    found = evidence(m.samples, 0.10)
    assert found["windows"] == 4 and found["throughput_ci_low"] is not None and found["latency_p99_ci_low_us"] is None
    assert "4 windows from perf_analyzer's passes" in m.log.read_text()


def test_no_measurement_at_all_is_an_error_with_the_output(tmp_path):
    runtime = fake_runtime(tmp_path, never=True)
    with pytest.raises(PerfError, match=r"(?s)produced no measurement.*Failed to obtain stable measurement"):
        measure(runtime, "m", "127.0.0.1:1", 64, tmp_path / "out", tmp_path / "in.json", PerfSettings(1, 500, 10, 5, 1))
