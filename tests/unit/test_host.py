"""The host fingerprint: parsed from /proc, deterministic, and a different host makes rows not comparable."""
from __future__ import annotations

from repro.compare.classify import NOT_COMPARABLE, Row, classify
from repro.measure.host import cpuinfo, fingerprint, summary

CPUINFO = """processor\t: 0
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma avx512f amx_tile amx_bf16 hypervisor
processor\t: 1
model name\t: Intel(R) Xeon(R) Platinum 8480+
flags\t\t: fpu sse4_2 avx avx2 fma avx512f amx_tile amx_bf16 hypervisor
"""


def test_cpuinfo_keeps_model_and_the_isa_features_that_pick_kernels(tmp_path):
    (tmp_path / "cpuinfo").write_text(CPUINFO)
    model, isa = cpuinfo(tmp_path / "cpuinfo")
    assert model == "Intel(R) Xeon(R) Platinum 8480+"
    assert isa == ["sse4_2", "avx", "avx2", "fma", "avx512f", "amx_tile", "amx_bf16"]


def test_fingerprint_is_stable_on_one_machine_and_summarised():
    assert fingerprint() == fingerprint()
    text = summary(fingerprint())
    assert "cores" in text and "Triton 2.51.0" in text
    assert summary(None).startswith("unknown host")


def row(host: str) -> Row:
    return Row("dlrm_tf", 256, 1, {"throughput_infer_per_s": 100.0, "latency_p50_us": 10.0, "latency_p99_us": 12.0},
               {"throughput": [100.0] * 5, "latency_us": [10.0] * 50}, {"engine": "e", "host": host})


def test_rows_from_different_hosts_are_not_comparable():
    verdicts = classify([row("AMD EPYC, 2 cores")], [row("Xeon 8480+, 2 cores")])
    assert {v.verdict for v in verdicts} == {NOT_COMPARABLE}
    assert all(v.reason.startswith("host differs: 'AMD EPYC, 2 cores' -> 'Xeon 8480+, 2 cores'") for v in verdicts)
