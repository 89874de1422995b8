"""Benchmark command for the placement's host-resident rows on a GPU host: how fast the GPU reads the embedding
rows that the size-sorted placement keeps in pinned host memory, per lookup strategy, at the perf stage's
inputs (power-law ids, the batch cycled over ``input_samples`` entries as perf_analyzer does). No server, no
dense part: lookups only, CUDA events, median of ``--iters`` runs.

    python -m tools.host_rows_bench --preset 22B --batches 4096 65536

Strategies: index_select on the host rows' device alias (PyTorch), the gather kernel on the same alias, the
cached gather (a GPU cache of ``--cache-fraction`` of the host rows, warmed from a separate draw of the same
distribution; misses read host memory), and for scale the host link's copy rate (cudaMemcpy of pinned memory).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from repro.engines.placement import place_tables
from repro.families.criteo.presets import get_preset
from repro.families.sampling import power_law_categories

DIM = 128


def timed(torch, fn, iters: int) -> float:
    """Median milliseconds of ``fn()`` on the current stream."""
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times))


def warm_slots(cards: list[int], capacity: int, draws: int, seed: int) -> list[np.ndarray]:
    """The ids of each host table most frequent in ``draws`` samples of the data's distribution, at most
    ``capacity`` in all (split by table in proportion to rows)."""
    rng = np.random.default_rng(seed)
    total = sum(cards)
    hot = []
    for c in cards:
        ids, counts = np.unique(power_law_categories(rng, c, draws), return_counts=True)
        hot.append(ids[np.argsort(-counts, kind="stable")][:capacity * c // total])
    return hot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="22B")
    parser.add_argument("--threshold-gb", type=float, default=60.0)
    parser.add_argument("--batches", type=int, nargs="+", default=[4096, 65536])
    parser.add_argument("--input-samples", type=int, default=512)
    parser.add_argument("--cache-fraction", type=float, default=0.1)
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--seed", type=int, default=20261122)
    args = parser.parse_args()

    import torch
    from repro.engines import gpu_kernels
    from repro.engines.gpu_tables import device_view, offsets_of, page_locked

    cards = list(get_preset(args.preset).cardinalities)
    placement = place_tables(cards, DIM, 4, args.threshold_gb)
    host = [i for i, d in enumerate(placement) if d == "CPU"]
    host_cards = [cards[i] for i in host]
    rows = sum(host_cards)
    print(f"[bench] {torch.cuda.get_device_name()}: {len(host)} host tables {host} ({rows:,} rows, "
          f"{rows * DIM * 4 / 2**30:.1f} GiB FP32)", flush=True)
    t0 = time.perf_counter()
    table = page_locked(torch.empty(rows, DIM, dtype=torch.float32))
    view = device_view(table, torch.device("cuda"))
    print(f"[bench] pinned in {time.perf_counter() - t0:.1f} s", flush=True)
    offsets = torch.tensor(offsets_of(host_cards), dtype=torch.int32, device="cuda")

    capacity = int(args.cache_fraction * rows)
    slot_of = torch.full((rows,), -1, dtype=torch.int32, device="cuda")
    hot = warm_slots(host_cards, capacity, 4_000_000, args.seed + 1)
    hot_rows = torch.from_numpy(np.concatenate([h + o for h, o in zip(hot, offsets_of(host_cards))])).cuda()
    slot_of[hot_rows] = torch.arange(hot_rows.numel(), dtype=torch.int32, device="cuda")
    cache = view.index_select(0, hot_rows)
    print(f"[bench] cache: {hot_rows.numel():,} rows ({cache.numel() * 4 / 2**30:.2f} GiB) warmed from a separate "
          "draw", flush=True)

    rng = np.random.default_rng(args.seed)
    entries = np.stack([power_law_categories(rng, c, args.input_samples) for c in host_cards], axis=1)
    staging = torch.empty(64 << 20, dtype=torch.uint8).pin_memory()
    on_gpu = torch.empty_like(staging, device="cuda")
    link = timed(torch, lambda: on_gpu.copy_(staging, non_blocking=True), args.iters)
    print(f"[bench] host link: cudaMemcpy of 64 MiB pinned {64 / 1024 / (link / 1e3):.1f} GiB/s", flush=True)
    for batch in args.batches:
        ids = torch.from_numpy(np.ascontiguousarray(entries[np.arange(batch) % args.input_samples])).cuda()
        uniform = torch.stack([torch.randint(0, c, (batch,), device="cuda", dtype=torch.int32) for c in host_cards], 1)
        hit = float((slot_of[(ids + offsets).reshape(-1).long()] >= 0).float().mean())
        want = gpu_kernels.gather_rows_reference(view, ids, offsets)
        got = gpu_kernels.cached_gather(cache, view, slot_of, ids, offsets)
        assert torch.equal(want, got) and torch.equal(want, gpu_kernels.gather_rows(view, ids, offsets))
        nbytes = ids.numel() * DIM * 4
        for name, fn in [("index_select", lambda i=ids: gpu_kernels.gather_rows_reference(view, i, offsets)),
                         ("gather kernel", lambda i=ids: gpu_kernels.gather_rows(view, i, offsets)),
                         (f"cached gather (hit {hit:.1%})",
                          lambda i=ids: gpu_kernels.cached_gather(cache, view, slot_of, i, offsets)),
                         ("index_select, uniform ids", lambda i=uniform: gpu_kernels.gather_rows_reference(view, i, offsets)),
                         ("gather kernel, uniform ids", lambda i=uniform: gpu_kernels.gather_rows(view, i, offsets))]:
            ms = timed(torch, fn, args.iters)
            print(f"[bench] batch {batch:>6} {name:<28} {ms:8.3f} ms  {nbytes / 2**30 / (ms / 1e3):6.1f} GiB/s of rows  "
                  f"{ms * 1e3 / batch:.4f} us/sample", flush=True)


if __name__ == "__main__":
    main()
