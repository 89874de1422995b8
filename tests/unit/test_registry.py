from __future__ import annotations

import filecmp

import pytest

from repro import paths
from repro.published.registry import gpu_profile
from stages.published import main as published_main


def test_regeneration_is_byte_identical(seeds_dir, tmp_path):
    out = tmp_path / "published"
    assert published_main(["--seeds", str(seeds_dir), "--out", str(out)]) == 0
    committed = sorted(p.name for p in paths.PUBLISHED.iterdir())
    assert sorted(p.name for p in out.iterdir()) == committed
    mismatch = filecmp.cmpfiles(paths.PUBLISHED, out, committed, shallow=False)[1]
    assert not mismatch, f"run `make published` and commit: {mismatch}"


def test_failed_regeneration_keeps_earlier_registry(tmp_path, seeds_dir):
    out = tmp_path / "published"
    assert published_main(["--seeds", str(seeds_dir), "--out", str(out)]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = tmp_path / "seeds"
    bad.mkdir()
    text = (seeds_dir / "000_c41fefe0334b576a.txt").read_text()
    (bad / "000_c41fefe0334b576a.txt").write_text(text.replace("3.64e+05", "n/a"))
    assert published_main(["--seeds", str(bad), "--out", str(out)]) == 2
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_missing_seeds_is_a_clear_error(tmp_path, capsys):
    assert published_main(["--seeds", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no source documents" in capsys.readouterr().err


@pytest.mark.parametrize("name,profile", [("NVIDIA DGX A100 (1x A100 80GB)", "a100"), ("NVIDIA A30", "a30"),
                                          ("NVIDIA T4", "t4"), ("NVIDIA DGX-1 (1x V100 32GB)", "v100"),
                                          ("NVIDIA A40", "a40"), ("A100-SXM4-80GB", "a100")])
def test_gpu_profiles(name, profile):
    assert gpu_profile(name) == profile


def test_unknown_gpu_is_rejected():
    with pytest.raises(ValueError, match="cannot map published GPU 'NVIDIA H100'"):
        gpu_profile("NVIDIA H100")
