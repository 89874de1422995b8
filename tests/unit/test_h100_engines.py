"""The h100 profile's GPU engines, run on CPU tensors (the same modules; CUDA graphs, pinning and
zero-copy host reads are CUDA-only and are exercised on the GPU host by `make deploy-h100`)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch (CPU build) is part of requirements.lock")

from repro.engines.gpu_tables import CachedTables, FusedTable, PlacedTables, RowSource, build_sparse  # noqa: E402
from repro.families.criteo.gpu_flavour import compact_tables  # noqa: E402

CPU = torch.device("cpu")
CARDS = (50, 3, 700, 20)


def ids(rng, n=200):
    return torch.tensor(np.stack([rng.integers(0, c, n) for c in CARDS], 1), dtype=torch.int32)


def threshold_for_all_but_largest(dim=8, bytes_per_value=4):
    return (50 + 3 + 20) * dim * bytes_per_value / 2**30 + 1e-12


def test_fused_table_rows_follow_the_per_table_offsets():
    arrays = tuple(np.full((c, 4), i, np.float32) + np.arange(c, dtype=np.float32)[:, None] / 1000 for i, c in
                   enumerate(CARDS))
    table = FusedTable(RowSource(CARDS, 4, arrays=arrays), torch.float32, CPU)
    got = table(torch.tensor([[1, 2, 699, 19]], dtype=torch.int32))
    assert np.allclose(got[0, :, 0].numpy(), [0.001, 1.002, 2.699, 3.019])


def test_placement_and_cache_give_the_fused_lookups():
    source = RowSource(CARDS, 8, seed=3)
    fused = FusedTable(source, torch.float32, CPU)
    placed = PlacedTables(source, torch.float32, CPU, threshold_for_all_but_largest())
    cached = CachedTables(source, torch.float32, CPU, threshold_for_all_but_largest(), 0.1)
    assert placed.placement == ["GPU", "GPU", "CPU", "GPU"]          # the largest table stays on the host
    batch = ids(np.random.default_rng(0))
    want = fused(batch)
    assert torch.equal(placed(batch), want)
    for _ in range(3):
        assert torch.equal(cached(batch), want)


def test_cache_hit_rate_rises_as_missed_rows_are_inserted():
    cached = CachedTables(RowSource(CARDS, 8, seed=1), torch.float32, CPU, threshold_for_all_but_largest(), 0.5)
    hot = torch.tensor([[0, 0, k, 0] for k in range(20)], dtype=torch.int32)
    cached(hot)
    assert cached.hit_rate == 0.0
    cached(hot)
    assert cached.stats()["hit_rate"] == pytest.approx(0.5) and cached.capacity == 350


def test_cache_evicts_first_in_first_out_and_stays_correct():
    source = RowSource(CARDS, 8, seed=2)
    cached = CachedTables(source, torch.float32, CPU, threshold_for_all_but_largest(), 0.01)   # 7 rows
    fused = FusedTable(source, torch.float32, CPU)
    rng = np.random.default_rng(5)
    for _ in range(5):
        batch = ids(rng, 50)
        assert torch.equal(cached(batch), fused(batch))
    assert (cached.slot_of >= 0).sum().item() == cached.capacity


def test_unknown_sparse_engine_names_the_field():
    with pytest.raises(ValueError, match="serving.criteo.configs"):
        build_sparse("hash", RowSource(CARDS, 4), torch.float32, CPU)


def test_seeded_rows_are_deterministic():
    a = FusedTable(RowSource(CARDS, 4, seed=9), torch.float16, CPU).table
    b = FusedTable(RowSource(CARDS, 4, seed=9), torch.float16, CPU).table
    assert torch.equal(a, b) and a.dtype == torch.float16


def test_compacted_gate_tables_give_identical_lookups():
    rng = np.random.default_rng(0)
    tables = [rng.random((c, 4)).astype(np.float32) for c in CARDS]
    cat = np.stack([rng.integers(0, c, 64) for c in CARDS], 1).astype(np.int32)
    kept, remapped = compact_tables(tables, cat)
    for i in range(len(CARDS)):
        assert np.array_equal(kept[i][remapped[:, i]], tables[i][cat[:, i]])
        assert kept[i].shape[0] == len(np.unique(cat[:, i]))


def test_chunked_step_gives_the_whole_batch_result():
    from repro.engines.torch_serving import GraphedStep
    weights = torch.arange(12, dtype=torch.float32).reshape(4, 3)
    fn = lambda x: x @ weights                                          # noqa: E731
    whole = GraphedStep(fn, {"x": ((4,), torch.float32)}, CPU)
    chunked = GraphedStep(fn, {"x": ((4,), torch.float32)}, CPU, chunk_rows=8)
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    assert chunked.chunked(32) and not chunked.chunked(8) and not chunked.chunked(12)
    assert torch.equal(chunked(x=x), whole(x=x))
    assert set(chunked.slots) == {8} and chunked.twin is not None      # two chunk slots, no whole-batch one
