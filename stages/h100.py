"""Stage `h100` (`make deploy-h100`, on the GPU host): the accuracy gate and the offline perf matrix of
params.yaml's h100 section, served by the real Triton server from the runtime bundle and measured by
the real perf_analyzer; writes results/h100/ (per-configuration CSVs, report.md with the published
A100 counterparts, ratios and physical limits, plots, accuracy.json, provenance.json).

    python -m stages.h100 --kit dist/h100 --work .h100 --out results/h100 [--only 4B dlrm_22b ...]
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
from pathlib import Path

from repro import atomic
from repro.cli import progress, run_stage
from repro.params import load_params


def driver_version() -> str:
    try:
        return subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=30).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown (nvidia-smi not available)"


def provenance(torch, kit: Path, command: str) -> dict:
    from repro.serving.runtime import TRITON_VERSION
    manifest = kit / "manifest.json"
    return {"gpu": torch.cuda.get_device_name(0), "driver": driver_version(), "torch": torch.__version__,
            "cuda": torch.version.cuda, "triton": TRITON_VERSION, "python": platform.python_version(),
            "host": platform.node(), "command": command,
            "kit": json.loads(manifest.read_text()).get("source") if manifest.exists() else None}


def build(kit_dir: Path, work: Path, out: Path, params_path: Path, only: list[str], skip_accuracy: bool) -> None:
    import torch
    if not torch.cuda.is_available():
        raise RuntimeError("no CUDA device is visible: the h100 profile runs on a GPU host "
                           "(on a CPU machine use `make deploy`, the cpu profile)")
    from repro.profiles.h100.run import Kit, accuracy_gate, configs_from_params, serve_and_measure
    from repro.profiles.h100.report import build_report
    from repro.engines.onnx_engine import fuse_linear, load_graph
    from repro.report.physical_limits import mlp_flops_per_sample
    section = load_params(params_path)["h100"]
    kit = Kit(kit_dir)
    if not (kit_dir / "manifest.json").exists():
        raise FileNotFoundError(f"{kit_dir}/manifest.json is missing: build the kit with `make h100-kit` on a "
                                "machine with the full environment and carry dist/h100/ here")
    work.mkdir(parents=True, exist_ok=True)
    flops = {m: mlp_flops_per_sample(fuse_linear(load_graph(kit.dense(m), seed=section["seed"])))
             for m in ("dlrm", "dcnv2")}
    command = "make deploy-h100" + (f" ONLY='{' '.join(only)}'" if only else "")
    prov = {**provenance(torch, kit_dir, command), "mlp_flops_per_sample": flops}
    atomic.write_text(out / "provenance.json", json.dumps(prov, indent=2, sort_keys=True) + "\n")
    failures = []
    accuracy = None
    if not skip_accuracy:
        accuracy = accuracy_gate(section, kit, work, out)
        atomic.write_text(out / "accuracy.json", json.dumps(accuracy, indent=2, sort_keys=True) + "\n")
        if not accuracy["served"]["fp32"]["passed"]:
            failures.append(f"accuracy gate: FP32 |AUC diff| {accuracy['served']['fp32']['abs_diff']:.2e} > "
                            f"{accuracy['tolerance']:g}")
    elif (out / "accuracy.json").exists():
        accuracy = json.loads((out / "accuracy.json").read_text())
    stats_path = out / "stats.json"
    stats = json.loads(stats_path.read_text()) if stats_path.exists() else {}
    for cfg in configs_from_params(section, only):
        def keep(frame, model_stats, name=cfg.name):
            atomic.write_csv(out / "perf" / f"{name}.csv", frame)
            stats[name] = {**stats.get(name, {}), **model_stats}
            atomic.write_text(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")

        try:
            result = serve_and_measure(cfg, section, kit, work, out, keep)
        except Exception as exc:  # one configuration failing must not lose the others' results
            failures.append(f"{cfg.name}: {type(exc).__name__}: {exc}")
            progress("h100", f"{cfg.name} FAILED: {exc}")
            continue
        atomic.write_csv(out / "perf" / f"{cfg.name}.csv", result["frame"])
        stats[cfg.name] = {**result["stats"], "server_ready_s": result["server_ready_s"]}
        atomic.write_text(stats_path, json.dumps(stats, indent=2, sort_keys=True) + "\n")
    build_report(out, section, flops, prov, accuracy)
    progress("h100", f"report: {out / 'report.md'}")
    if failures:
        raise RuntimeError("; ".join(failures))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kit", type=Path, default=Path("dist/h100"))
    parser.add_argument("--work", type=Path, default=Path(".h100"))
    parser.add_argument("--out", type=Path, default=Path("results/h100"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--only", nargs="*", default=[], help="run the configurations whose name contains any of these")
    parser.add_argument("--skip-accuracy", action="store_true")
    a = parser.parse_args(argv)
    return run_stage("h100", lambda: build(a.kit, a.work, a.out, a.params, a.only, a.skip_accuracy))


if __name__ == "__main__":
    sys.exit(main())
