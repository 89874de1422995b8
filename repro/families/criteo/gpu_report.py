"""The python-gpu flavour's report sections (stage tables, results/<profile>/tables/report.md): each
configuration next to its published A100 counterpart with a ratio column and the physical-limit
estimate per batch; where the time goes; fused vs ensemble and the default it supports; the targets;
throughput plots with the published A100 rows. Reads the perf stage's files, never measures."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from tabulate import tabulate

from repro.families.criteo.gpu_repository import ServeConfig
from repro.report.physical_limits import Hardware, limits
from repro.families.criteo.presets import get_preset
from repro.compare.published import counterparts
from repro.families.criteo.family import CRITEO
from repro.report.measured import plot_throughput
from repro.measure.metrics import P99, THROUGHPUT, canonical, published
from repro.report.render import render_markdown

TARGETS = (("DLRM 4B FP16, batch 65536: at least 30M infer/s", "dlrm", "4B", "fp16", 65536, "throughput", 30e6),
           ("DLRM 4B FP16, batch 256: p99 at most 1 ms", "dlrm", "4B", "fp16", 256, "p99", 1000.0),
           ("DLRM 22B FP32, batch 65536: at least 10M infer/s", "dlrm", "22B", "fp32", 65536, "throughput", 10e6))
BACKENDS = {"python": "python backend", "cpp": "native C++ backend"}


def config_of(frame: pd.DataFrame) -> ServeConfig:
    r = frame.iloc[0]
    dtype = r["dtype"] if "dtype" in r else r["precision"].split()[0].lower()
    inputs = r["shared_memory"] if "shared_memory" in r else "system"
    backend = r["backend"] if "backend" in r and isinstance(r["backend"], str) else "python"
    return ServeConfig(r["model"], str(r["preset"]), dtype, r["sparse"], r["serving"], inputs, backend)


def shown(frame: pd.DataFrame) -> pd.DataFrame:
    """Batch, throughput and p99 under the DLRM tables' headers."""
    return frame[["batch", THROUGHPUT, P99]].rename(columns={"batch": "Batch", THROUGHPUT: "Inferences/Second",
                                                            P99: "p99 latency"})


def upstream_protocol(cfg: ServeConfig) -> bool:
    """Measured like the published tables: a model, inputs through system shared memory."""
    return cfg.inputs == "system" and cfg.serving != "transport"


def with_limits(frame: pd.DataFrame, cfg: ServeConfig, flops: float, section: dict) -> pd.DataFrame:
    lim = limits(list(get_preset(cfg.preset).cardinalities), cfg.precision, cfg.sparse, section["memory_threshold_gb"],
                 flops, Hardware.from_params(section["hardware"]), section["fp32_matmul"])
    out = shown(frame)
    out["limit infer/s"] = lim["limit_infer_per_s"]
    out["achieved"] = out["Inferences/Second"] / lim["limit_infer_per_s"]
    out["bound by"] = lim["bound_by"]
    return out


def a100_side_by_side(frame: pd.DataFrame, cfg: ServeConfig) -> tuple[str, pd.DataFrame | None]:
    variant = "hps" if cfg.sparse == "cache" else "tf"
    found = [c for c in counterparts({"source": CRITEO.published_sources[variant],
                                      "model": CRITEO.display_names[cfg.model]}, cfg.precision, cfg.preset) if c.gpu == "a100"]
    if not found:
        return "no published A100 counterpart", None
    cp = found[0]
    p = canonical(cp.frame, cp.style).set_index("batch")
    out = shown(frame)
    out["A100 infer/s"] = [p.loc[b, THROUGHPUT] if b in p.index else None for b in out["Batch"]]
    out["ratio"] = out["Inferences/Second"] / out["A100 infer/s"]
    out["A100 p99"] = [p.loc[b, P99] if b in p.index else None for b in out["Batch"]]
    return f"`{cp.table_id}` ({cp.title})", out


def config_section(name: str, frame: pd.DataFrame, flops: dict[str, float], section: dict, stats: dict) -> str:
    cfg = config_of(frame)
    r = frame.iloc[0]
    head = (f"### Offline: {CRITEO.display_names[cfg.model]} {cfg.preset}, {cfg.precision.upper()}, sparse `{cfg.sparse}`, "
            f"serving `{cfg.serving}`{'' if cfg.inputs == 'system' else f', {cfg.inputs} inputs'}, "
            f"{BACKENDS[cfg.backend]} on {r['device']}\n\n"
            f"- Engine: {r['engine']}\n- Runtime: {r['runtime']}; versions: {r['versions']}\n")
    if "inputs" in r:
        head += f"- Inputs: {r['inputs']}\n"
    s = stats.get(name, {})
    if s.get("sparse", {}).get("hit_rate") is not None:
        head += (f"- GPU cache: {s['sparse']['cache_rows']:,} rows, hit rate {s['sparse']['hit_rate']:.3f} over "
                 f"{s['sparse']['lookups']:,} host-table lookups (whole run, warm-up included)\n")
    if s.get("distinct_ids_per_request"):
        head += f"- Distinct (feature, id) pairs per request by batch: {s['distinct_ids_per_request']}\n"
    unstable = frame.loc[~frame["stable"].astype(bool), "batch"].tolist()
    if unstable:
        head += f"- Unstable after retries (kept, marked): batch {', '.join(map(str, unstable))}\n"
    body = render_markdown(published(frame, "dlrm"), "dlrm")
    if cfg.serving == "transport":
        return f"{head}\n{body}\n"
    source, side = a100_side_by_side(frame, cfg)
    side_md = (tabulate(side, headers="keys", tablefmt="pipe", showindex=False,
                        floatfmt=("g", ".4g", ".0f", ".4g", ".3f", ".0f")) if side is not None else "")
    lim = with_limits(frame, cfg, flops[cfg.model], section)
    lim_md = tabulate(lim, headers="keys", tablefmt="pipe", showindex=False, floatfmt=("g", ".4g", ".0f", ".4g", ".3f"))
    return (f"{head}\n{body}\n\nPublished counterpart: {source}\n\n{side_md}\n\n"
            f"Physical limit (slowest of host link, gather, MLP at peak; perfect overlap assumed):\n\n{lim_md}\n")


def serving_comparison(runs: dict[str, pd.DataFrame], default: str) -> str:
    pairs = {}
    for name, frame in runs.items():
        cfg = config_of(frame)
        if cfg.inputs == "system" and cfg.backend == "python":
            pairs.setdefault((cfg.model, cfg.preset, cfg.precision, cfg.sparse), {})[cfg.serving] = frame
    lines = []
    for key, both in sorted(pairs.items()):
        if {"fused", "ensemble"} <= set(both):
            f, e = both["fused"].set_index("batch"), both["ensemble"].set_index("batch")
            table = pd.DataFrame({"fused infer/s": f[THROUGHPUT], "ensemble infer/s": e[THROUGHPUT],
                                  "fused/ensemble": f[THROUGHPUT] / e[THROUGHPUT],
                                  "fused p99": f[P99], "ensemble p99": e[P99]}).rename_axis("Batch").reset_index()
            wins = int((table["fused/ensemble"] > 1).sum())
            lines.append(f"{CRITEO.display_names[key[0]]} {key[1]} {key[2].upper()} ({key[3]}): fused is faster at {wins} of "
                         f"{len(table)} batch sizes.\n\n"
                         + tabulate(table, headers="keys", tablefmt="pipe", showindex=False,
                                    floatfmt=("g", ".4g", ".4g", ".3f", ".0f", ".0f")))
    verdict = (f"The profile serves `{default}` by default (params.yaml: profiles.<profile>.serving.criteo.default_serving). The fused model keeps the "
               "[B, 26, 128] lookup tensor inside one process and one CUDA graph; the ensemble hands it from the "
               "sparse step to the dense step through Triton (DLPack on the GPU) and pays a second python-backend "
               "round trip.")
    return "## Fused model vs two-step ensemble\n\n" + verdict + "\n\n" + ("\n\n".join(lines) or "(not measured)") + "\n"


def targets(runs: dict[str, pd.DataFrame]) -> str:
    rows = []
    for text, model, preset, precision, batch, kind, goal in TARGETS:
        best = None
        for frame in runs.values():
            cfg = config_of(frame)
            if (cfg.model, cfg.preset, cfg.precision) == (model, preset, precision) and batch in set(frame["batch"]) \
                    and upstream_protocol(cfg):
                r = frame.set_index("batch").loc[batch]
                value = r[THROUGHPUT] if kind == "throughput" else r[P99]
                if best is None or (value > best[0] if kind == "throughput" else value < best[0]):
                    best = (value, cfg.name, bool(r["stable"]))
        if best is None:
            rows.append([text, "not measured", "", ""])
        else:
            met = best[0] >= goal if kind == "throughput" else best[0] <= goal
            shown = f"{best[0] / 1e6:.2f}M infer/s" if kind == "throughput" else f"{best[0]:.0f} us"
            note = "" if best[2] else " (unstable row)"
            rows.append([text, shown + note, best[1], "met" if met else "not met"])
    return ("## Targets\n\nMeasured as upstream measures (system shared memory, a real model); the transport and "
            "CUDA-input rows below show what bounds them.\n\n"
            + tabulate(rows, headers=["target", "reached", "configuration", "verdict"], tablefmt="pipe") + "\n")


# The backends' own clocks (stats.json): the python model's phases, and the native backend's (torch_backend.cc).
MODEL_PHASES = {"model: infer": "infer", "model: respond": "respond", "native: copy in": "copy_in_us",
                "native: graph + copy out": "graph_and_copy_out_us", "native: chunked pipeline": "chunked_us",
                "native: execute": "execute_us"}
SERVER_PHASES = {"Queue": "server_queue_us", "Compute Input": "server_compute_input_us",
                 "Compute Infer": "server_compute_infer_us", "Compute Output": "server_compute_output_us"}


def time_breakdown(runs: dict[str, pd.DataFrame], stats: dict, model: str = "dlrm", preset: str = "4B",
                   precision: str = "fp16") -> str:
    """Per batch: perf_analyzer's server phases (us) for each serving of one model, and the model's
    own phases (stats.json, timed inside ``execute``), beside the transport-only ceiling."""
    rows = []
    for name, frame in runs.items():
        cfg = config_of(frame)
        if (cfg.model, cfg.preset, cfg.precision) != (model, preset, precision):
            continue
        inside = stats.get(name, {}).get("model_time_us", {})
        for _, r in frame.iterrows():
            phases = inside.get(str(int(r["batch"])), {})
            rows.append({"Batch": int(r["batch"]), "configuration": name, "infer/s": r[THROUGHPUT],
                         "avg latency": r["latency_avg_us"], **{k: r[v] for k, v in SERVER_PHASES.items()},
                         **{label: phases.get(key) for label, key in MODEL_PHASES.items()}})
    if not rows:
        return ""
    table = pd.DataFrame(rows).sort_values(["Batch", "configuration"], kind="stable")
    table = table.dropna(axis=1, how="all")                    # phases no served model timed
    table = table.astype(object).where(table.notna(), "")      # no model phases: the model did not time them
    return (f"## Where the time goes: {CRITEO.display_names[model]} {preset} {precision.upper()}\n\n"
            "Microseconds per request (concurrency 1). perf_analyzer's server phases: *Compute Input* is the server "
            "copying the request into the python backend's shared memory, *Compute Infer* is the python backend round "
            "trip including the model's `execute`, whose own phases follow (*model: infer* = inputs to the GPU, "
            "sparse + dense, result back; *model: respond* = building the response). For the native C++ backend "
            "(`_cpp`), *Compute Input* is the server handing over pointers into the shared-memory region, and its own "
            "clocks follow: *copy in* (inputs to the GPU from the registered region), *graph + copy out* (CUDA graph "
            "replay, result back), or *chunked pipeline* (chunks whose copies overlap the previous chunk's graph), "
            "and *execute* (the whole request inside the backend). The `transport` rows run no model: they are each "
            "backend's ceiling under the same protocol.\n\n"
            + tabulate(table, headers="keys", tablefmt="pipe", showindex=False,
                       floatfmt=("g", "g", ",.0f") + (".0f",) * (len(table.columns) - 3))
            + "\n")


def backend_comparison(runs: dict[str, pd.DataFrame], default: str) -> str:
    """Each configuration measured on both backends, side by side; the profile's default and why."""
    from repro.report.backends import comparison
    pairs: dict[str, dict[str, pd.DataFrame]] = {}
    for name, frame in runs.items():
        cfg = config_of(frame)
        pairs.setdefault(ServeConfig(cfg.model, cfg.preset, cfg.precision, cfg.sparse, cfg.serving, cfg.inputs).name,
                         {})[cfg.backend] = frame
    both = {key: (b["python"], b["cpp"], "batch") for key, b in sorted(pairs.items()) if {"python", "cpp"} <= set(b)}
    why = {"python": "the python backend stays the default until the native backend's rows have been measured beside "
                     "it on the GPU host and win: it runs the Triton-language kernels and every sparse engine",
           "cpp": "the native backend's rows beat the python backend's on the measured configurations (below): it "
                  "takes the inputs straight from the registered shared-memory region and replays the CUDA graph "
                  "from C++, without the python backend's copies and round trip; the cache and the ensemble stay "
                  "on the python backend, which serves them"}[default]
    return comparison("DLRM / DCNv2", both, default, why, "profiles.<profile>.serving.criteo.default_backend")


def plots(runs: dict[str, pd.DataFrame], out: Path) -> list[str]:
    written = []
    groups: dict[tuple[str, str], dict[str, pd.DataFrame]] = {}
    for name, frame in runs.items():
        cfg = config_of(frame)
        suffix = ("" if cfg.inputs == "system" else f" ({cfg.inputs} inputs)") + \
            ("" if cfg.backend == "python" else " native")
        groups.setdefault((cfg.model, cfg.preset), {})[f"{cfg.precision} {cfg.sparse}/{cfg.serving}{suffix}"] = frame
    for (model, preset), frames in sorted(groups.items()):
        for precision in ("fp32", "fp16"):
            for c in counterparts({"source": CRITEO.published_sources["tf"], "model": CRITEO.display_names[model]},
                                   precision, preset):
                if c.gpu == "a100" and c.model_size == preset:
                    frames[f"{precision} published A100 (TF+TRT)"] = c.frame
        path = out / f"throughput_{model}_{preset}.svg"
        plot_throughput(frames, path, f"{CRITEO.display_names[model]} {preset}: offline throughput")
        written.append(path.name)
    return written


def sections(perf: Path, options: dict, out: Path) -> list[str]:
    settings = json.loads((perf / "settings.json").read_text())
    runs = {name: canonical(pd.read_csv(perf / f"{name}.csv")) for name in settings["tables"]}
    runs = {name: frame for name, frame in runs.items() if "sparse" in frame}
    stats_path = perf / "model_stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    flops = {s["model"]: s["mlp_flops_per_sample"] for s in stats.values() if "mlp_flops_per_sample" in s}
    parts = [targets(runs), backend_comparison(runs, options.get("default_backend", "python")),
             time_breakdown(runs, stats), serving_comparison(runs, options["default_serving"]), "## Configurations\n"]
    parts.extend(config_section(name, frame, flops, options, stats) for name, frame in runs.items())
    parts.append("Plots: " + ", ".join(plots(runs, out)) + "\n")
    return parts
