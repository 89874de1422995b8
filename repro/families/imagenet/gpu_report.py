"""The h100 report section of ResNet50: the targets of issue 14 beside what was measured, the bytes each
request carries and what moving them costs, the server's phases and the model's own clocks at batch 128."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro.families.imagenet.dataset import SIZE
from repro.families.imagenet.gpu_flavour import served_name
from repro.measure.metrics import BY_NAME, COMPONENTS, P99, THROUGHPUT, canonical

IMAGE_BYTES = 3 * SIZE * SIZE * 4          # one FP32 input image: 602,112 bytes
A100_ONLINE_C256 = 6127.3                  # published A100 online, concurrency 256 (seed 003)
TARGETS = {"offline": (128, 1, 10_000.0), "online": (1, 256, 5 * A100_ONLINE_C256)}


def row(frame: pd.DataFrame, batch: int, concurrency: int) -> pd.Series | None:
    found = frame[(frame["batch"] == batch) & (frame["concurrency"] == concurrency)]
    return None if found.empty else found.iloc[0]


def sections(perf: Path, options: dict, host_link_gbps: float) -> list[str]:
    stats = json.loads((perf / "model_stats.json").read_text()) if (perf / "model_stats.json").exists() else {}
    out = []
    from repro.native.flavour import backends, served_name as on
    served = [on(served_name(c["precision"], c["chunk_rows"]), b) for c in options["configs"] for b in backends(options)]
    for name in served:
        frames = {s: perf / f"{name}{'' if s == 'offline' else '_online'}.csv" for s in TARGETS}
        if not frames["offline"].exists():
            continue
        targets = []
        for scenario, (batch, concurrency, target) in TARGETS.items():
            r = row(canonical(pd.read_csv(frames[scenario])), batch, concurrency) if frames[scenario].exists() else None
            measured = float("nan") if r is None else float(r[THROUGHPUT])
            targets.append((scenario, f"batch {batch}, concurrency {concurrency}", f"{target:,.0f}", f"{measured:,.0f}",
                            "n/a" if r is None else f"{float(r[P99]) / 1000:.2f}",
                            "not measured" if r is None else ("yes" if measured >= target else "NO"),
                            "" if r is None else str(r["device"])))
        text = (f"#### ResNet50 on this GPU: targets ({name})\n\n"
                + tabulate(targets, headers=["Scenario", "Point", "Target (img/s)", "Measured (img/s)", "p99 (ms)", "Met", "Device"],
                           tablefmt="pipe", disable_numparse=True)
                + "\n\nTargets: offline batch 128 at least 10,000 images/s; online concurrency 256 at least 5x the published "
                  f"A100 figure ({A100_ONLINE_C256:,.1f}).\n")
        b128 = row(canonical(pd.read_csv(frames["offline"])), 128, 1)
        if b128 is not None:
            request = 128 * IMAGE_BYTES
            phases = [(BY_NAME[c].column, f"{float(b128[c]) / 1000:.2f}") for c in COMPONENTS]
            text += (f"\nWhat a batch-128 request carries: {request / 1e6:.1f} MB of FP32 images ({IMAGE_BYTES:,} bytes "
                     f"each); at the nominal host link ({host_link_gbps:g} GB/s) that alone is {request / host_link_gbps / 1e6:.2f} ms, "
                     f"a ceiling of {host_link_gbps * 1e9 / IMAGE_BYTES:,.0f} images/s. Before the GPU sees them the bytes are "
                     "copied by perf_analyzer into shared memory once, by the server into the python backend's shared memory, "
                     "and by the model into pinned staging (then DMA).\n\nServer phases at batch 128 (ms, perf_analyzer):\n\n"
                     + tabulate(phases, headers=["Phase", "ms"], tablefmt="pipe", disable_numparse=True) + "\n")
        model = stats.get(name) or {}
        clocks = model.get("model_time_us", {}).get("128")
        if clocks and model.get("backend") != "repro_torch":      # the native backend's clocks: backend_section
            chunked = model.get("chunked_requests", 0)
            text += ("\nThe model's own clocks at batch 128 (us, each phase's total over all "
                     f"{clocks['requests']} requests of 128 images, offline and online; {chunked} of them single requests "
                     "run in chunks, timed as one phase): "
                     + ", ".join(f"{k} {v:,.0f}" for k, v in clocks.items() if k != "requests")
                     + ". What the server spends beyond them (Compute Infer minus the model's phases) is the python "
                       "backend's own handling of the request.\n")
        out.append(text)
    return out + [backend_section(perf, options, stats)]


WHY = {"python": "the python backend stays the default until the native backend has passed the accuracy gate on the "
                 "GPU host and its rows, measured beside the python ones there, win",
       "cpp": "the native backend's rows beat the python backend's (below): a batch-128 request's 77 MB go from the "
              "registered shared-memory region straight to the GPU, without the copy into the python backend's "
              "shared memory and its pinned staging"}


def backend_section(perf: Path, options: dict, stats: dict) -> str:
    from repro.report.backends import family_section
    default = options.get("default_backend", "python")
    return family_section("ResNet50", perf, [served_name(c["precision"], c["chunk_rows"]) for c in options["configs"]],
                          stats, default, WHY[default], "profiles.<profile>.serving.imagenet.default_backend")
