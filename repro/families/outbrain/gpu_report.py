"""The h100 report section of Wide & Deep: each measured configuration's best offline and online rows
beside the published A100 figures, the physical limit of the H100 for this model (host link, embedding
gathers, MLP FLOPs against nominal peaks from params.yaml), and the targets of issue 13."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro.compare.published import counterparts
from repro.families.outbrain.gpu_flavour import served_name
from repro.families.outbrain.features import CATEGORICAL, DEEP_LAYERS, INPUTS, deep_width, input_width
from repro.measure.metrics import P99, THROUGHPUT, canonical
from repro.report.physical_limits import Hardware

PUBLISHED = {"source": "002_7c910ab60ccdc04e.txt", "model": "Wide & Deep"}
BYTES = {"fp16": 2, "fp32": 4}


def mlp_flops() -> float:
    widths = [deep_width(), *DEEP_LAYERS, 1]
    return 2.0 * (sum(a * b for a, b in zip(widths, widths[1:])) + 13)      # deep part + the wide numerical term


def limits(precision: str, hw: Hardware, fp32_matmul: str) -> dict:
    host = sum(4 * input_width(n) for n in INPUTS) + 4                         # inputs + output, per sample
    rows = sum(input_width(n) * (dim + 1) for n, (_, dim) in CATEGORICAL.items())   # deep + wide rows read
    gather = 2 * rows * BYTES[precision]
    peak = hw.fp16_tflops if precision == "fp16" else (hw.tf32_tflops if fp32_matmul == "tf32" else hw.fp32_tflops)
    seconds = {"host link": host / (hw.host_link_gbps * 1e9), "gathers": gather / (hw.memory_gbps * 1e9),
               "MLP": mlp_flops() / (peak * 1e12)}
    bound = max(seconds, key=seconds.get)
    return {"host_bytes": host, "gather_bytes": gather, "flops": mlp_flops(), "bound": bound,
            "limit": 1.0 / seconds[bound]}


def published_a100(precision: str, scenario: str) -> pd.DataFrame | None:
    found = [c for c in counterparts(PUBLISHED, precision, "", scenario) if c.gpu == "a100"]
    return canonical(found[0].frame, found[0].style) if found else None


def sections(perf: Path, options: dict) -> list[str]:
    hw = Hardware.from_params(options["hardware"])
    rows, targets = [], []
    for config in options["configs"]:
        precision = config["precision"]
        stem = served_name(precision, config["inputs"])
        offline_csv, online_csv = perf / f"{stem}.csv", perf / f"{stem}_online.csv"
        if not offline_csv.exists():
            continue
        offline = canonical(pd.read_csv(offline_csv))
        best = offline.loc[offline[THROUGHPUT].idxmax()]
        lim = limits(precision, hw, options["fp32_matmul"])
        pub = published_a100(precision, "offline")
        pub_best = pub[THROUGHPUT].max() if pub is not None else float("nan")
        rows.append((f"{precision.upper()}, inputs {config['inputs']}", int(best["batch"]), f"{best[THROUGHPUT]:,.0f}", f"{best[P99] / 1000:.2f}",
                     f"{pub_best:,.0f}", f"{lim['limit']:,.0f} ({lim['bound']})", f"{best[THROUGHPUT] / lim['limit']:.1%}"))
        at_max = offline[offline["batch"] == offline["batch"].max()]
        if precision == "fp16" and len(at_max):
            value = at_max[THROUGHPUT].iloc[0]
            targets.append(f"- FP16 (inputs {config['inputs']}) offline at batch {int(at_max['batch'].iloc[0])}: {value:,.0f} infer/s "
                           f"(target 20,000,000: {'met' if value >= 2e7 else 'not met'}; published A100 TensorRT FP16 "
                           f"{pub_best:,.0f})")
        if precision == "fp16" and online_csv.exists():
            online = canonical(pd.read_csv(online_csv))
            pub_online = published_a100(precision, "online")
            last = online.loc[online["concurrency"].idxmax()]
            ref = pub_online.set_index("concurrency").loc[int(last["concurrency"]), THROUGHPUT] \
                if pub_online is not None and int(last["concurrency"]) in set(pub_online["concurrency"]) else float("nan")
            targets.append(f"- FP16 (inputs {config['inputs']}) online at concurrency {int(last['concurrency'])}: {last[THROUGHPUT]:,.0f} infer/s = "
                           f"x{last[THROUGHPUT] / ref:.2f} the published A100 FP16 figure {ref:,.0f} (target x2: "
                           f"{'met' if last[THROUGHPUT] >= 2 * ref else 'not met'})")
    if not rows:
        return []
    table = tabulate(rows, headers=["Precision", "Best batch", "Offline infer/s", "p99 (ms)", "Published A100 best",
                                    "Physical limit (bound by)", "Achieved"], tablefmt="pipe", disable_numparse=True)
    fp16 = limits("fp16", hw, options["fp32_matmul"])
    paths_used = sorted({c["inputs"] for c in options["configs"]})
    note = (f"Per sample: {fp16['host_bytes']} bytes over the host link (29 inputs + output), {fp16['gather_bytes']} "
            f"bytes of embedding rows read and written in FP16, {fp16['flops'] / 1e6:.1f} MFLOP in the MLPs. Nominal "
            "peaks from params.yaml (not measured). Client inputs: "
            + "; ".join(INPUT_NOTES[p] for p in paths_used) + ".")
    return [f"#### Wide & Deep on this GPU: best offline rows, the published A100, the physical limit\n\n{table}\n\n"
            f"{note}\n\n" + "\n".join(targets) + "\n", backend_section(perf, options), where_the_time_goes(perf, options)]


WHY = {"python": "the python backend stays the default until the native backend has passed the accuracy gate on the "
                 "GPU host and its rows, measured beside the python ones there, win",
       "cpp": "the native backend's rows beat the python backend's (below): it takes the 29 inputs straight from the "
              "registered shared-memory region, joins the dynamic batcher's requests in C++ and replays the CUDA "
              "graph without the python backend's per-tensor handling"}


def backend_section(perf: Path, options: dict) -> str:
    """Each configuration on both backends, offline and online, and the native backend's own clocks."""
    from repro.report.backends import family_section
    default = options.get("default_backend", "python")
    stats = json.loads((perf / "model_stats.json").read_text()) if (perf / "model_stats.json").exists() else {}
    return family_section("Wide & Deep", perf, [served_name(c["precision"], c["inputs"]) for c in options["configs"]],
                          stats, default, WHY[default], "profiles.<profile>.serving.outbrain.default_backend")


INPUT_NOTES = {"system": "system shared memory, upstream's protocol (perf_analyzer 2.51 loses its profile export "
                         "for a model with this many FP32 inputs: the windows come from its verbose report, and "
                         "there is no p99 interval)",
               "none": "in the gRPC request (full windows and intervals)"}
PHASES = ("server_queue_us", "server_compute_input_us", "server_compute_infer_us", "server_compute_output_us")


def where_the_time_goes(perf: Path, options: dict) -> str:
    """Per configuration, the largest offline batch and the last online point: perf_analyzer's server phases,
    and the MLP time at nominal peak for scale."""
    hw = Hardware.from_params(options["hardware"])
    rows = []
    for config in options["configs"]:
        stem = served_name(config["precision"], config["inputs"])
        lim = limits(config["precision"], hw, options["fp32_matmul"])
        for suffix, pick in (("", "batch"), ("_online", "concurrency")):
            csv = perf / f"{stem}{suffix}.csv"
            if not csv.exists():
                continue
            frame = pd.read_csv(csv)
            r = frame.loc[frame[pick].idxmax()]
            merged = int(r["batch"]) * (int(r["concurrency"]) if suffix else 1)   # at most, once the batcher joins them
            rows.append((stem + suffix, int(r["batch"]), int(r["concurrency"]), f"{r[THROUGHPUT]:,.0f}",
                         *[f"{r[p] / 1000:.2f}" for p in PHASES],
                         f"{min(merged, 131072) / lim['limit'] * 1000:.2f}"))
    if not rows:
        return ""
    table = tabulate(rows, headers=["Configuration", "Batch", "Concurrency", "infer/s", "Queue (ms)", "Compute input (ms)",
                                    "Compute infer (ms)", "Compute output (ms)", "Limit for the batch (ms)"],
                     tablefmt="pipe", disable_numparse=True)
    return ("#### Wide & Deep: where the time goes\n\n" + table + "\n\nperf_analyzer's server phases per request "
            "(Compute infer is the python-backend model's execute: taking the 29 inputs, copying them through pinned "
            "staging to the GPU, replaying the CUDA graph of the op-by-op engine, copying the output back; Compute "
            "input is the server placing the inputs for the python backend). The last column is the physical limit's "
            "time for the batch the model computes (online: at most batch x concurrency, up to 131072): the gap to "
            "Compute infer is the engine and its host copies, not the hardware. Online, the dynamic batcher hands the "
            "model many 2048-sample requests at once, and Queue grows with concurrency: the model takes each request's "
            "29 inputs and answers each request in Python (the native backend's `_cpp` models take them in C++).\n" + model_phases(perf, options))


MODEL_PHASES = ("host copy", "gpu", "of which h2d (GPU)", "of which graph+d2h (GPU)", "respond")


def model_phases(perf: Path, options: dict, shown: int = 4) -> str:
    """The model's own timing of its execute (model_stats.json, the last server start of each configuration):
    per executed batch size, the most frequent ones."""
    path = perf / "model_stats.json"
    stats = json.loads(path.read_text()) if path.exists() else {}
    rows = []
    for config in options["configs"]:
        name = served_name(config["precision"], config["inputs"])
        times = stats.get(name, {}).get("model_time_us", {})
        frequent = sorted(times, key=lambda b: -times[b]["requests"])[:shown]
        for batch in sorted(frequent, key=int):
            t = times[batch]
            if not all(phase in t for phase in MODEL_PHASES):
                continue
            rows.append((name, batch, t["requests"], *[f"{t[phase] / 1000:.2f}" for phase in MODEL_PHASES]))
    if not rows:
        return ""
    return ("\nInside the model (its own clocks; GPU intervals from CUDA events), per executed batch, the most "
            "frequent batches of each configuration's last server start:\n\n" +
            tabulate(rows, headers=["Configuration", "Executed batch", "Executions", "Host copy (ms)", "GPU wall (ms)",
                                    "of which H2D (ms)", "of which graph + D2H (ms)", "Respond (ms)"],
                     tablefmt="pipe", disable_numparse=True) +
            "\n\nHost copy: each request's 29 inputs into the pinned staging slot (CPU). GPU wall: from the first "
            "host-to-device copy to the synchronised output, measured on the host; its two parts are GPU intervals "
            "between CUDA events.\n")
