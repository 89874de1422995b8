"""Measure with the real perf_analyzer and normalise its CSV into the published schema.

perf_analyzer can exit 0 without a stable measurement, so stability is read from its output; an
unstable run is retried with a window twice as long, a bounded number of times, and a row that
never stabilises is kept but marked ``stable=False``.
"""
from __future__ import annotations

import json
import math
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from repro.serving.runtime import Runtime
from repro.measure.scenarios import point_name
from repro.measure.statistics import MIN_WINDOWS
from repro.measure.metrics import METRICS, P99, PERF_ANALYZER_COLUMNS, THROUGHPUT, from_perf_analyzer

UNSTABLE_MARKERS = ("Failed to obtain stable measurement", "Please use a larger time window")


class PerfError(RuntimeError):
    """perf_analyzer failed for a reason other than instability (server gone, bad model, ...)."""


@dataclass(frozen=True)
class PerfSettings:
    concurrency: int
    interval_ms: int
    stability_percentage: float
    max_trials: int
    retries: int
    protocol: str = "grpc"
    shared_memory: str = "system"   # system (upstream's) | cuda (inputs placed in GPU memory by the client)
    max_cv: float = 0.10            # windows' coefficient of variation above this: the row is not stable
    min_windows: int = MIN_WINDOWS  # fewer windows in a row: more runs of perf_analyzer add theirs (top-ups)

    @classmethod
    def from_params(cls, p: dict) -> "PerfSettings":
        """From a profile's ``perf`` section."""
        return cls(p["concurrency"], p["measurement_interval_ms"], p["stability_percentage"], p["max_trials"],
                   p["retries"], max_cv=p.get("max_cv", 0.10), min_windows=p.get("min_windows", MIN_WINDOWS))


@dataclass(frozen=True)
class Measurement:
    model: str
    batch: int
    csv: Path
    stable: bool
    attempts: int
    interval_ms: int
    log: Path
    samples: dict[str, list[float]]


MAX_LATENCY_SAMPLES = 2000


def samples_from_export(path: Path, batch: int) -> dict[str, list[float]]:
    """Repeated samples of one measurement from perf_analyzer's profile export: throughput of each
    measurement window (infer/s) and per-request latencies (µs, evenly thinned to at most 2000).
    An export that cannot be read gives no samples; the reason goes to the measurement's log."""
    try:
        experiment = json.loads(path.read_text())["experiments"][-1]
    except (FileNotFoundError, json.JSONDecodeError, KeyError, IndexError) as exc:
        log = path.with_name(path.name.replace(".export.json", ".log"))
        with log.open("a") as fh:
            fh.write(f"\n### samples: profile export {path.name} not usable ({type(exc).__name__}: "
                     f"{str(exc)[:200]})\n")
        return {}
    requests = [(r["timestamp"], r["response_timestamps"][-1]) for r in experiment.get("requests", [])
                if r.get("response_timestamps")]
    bounds = experiment.get("window_boundaries") or []
    throughput = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        done = sum(1 for _, t in requests if start <= t < end)
        if end > start and done:
            throughput.append(round(done * batch / ((end - start) / 1e9), 3))
    latencies = [(t - s0) / 1e3 for s0, t in requests]
    step = max(1, len(latencies) // MAX_LATENCY_SAMPLES)
    return {"throughput": throughput, "latency_us": [round(v, 1) for v in latencies[::step]],
            "requests": len(latencies)}


PASS = re.compile(r"^\s*Pass \[\d+\] throughput: ([0-9.eE+-]+) infer/sec\.", re.MULTILINE)
REQUEST_COUNT = re.compile(r"^\s*Client:\s*\n\s*Request count: (\d+)", re.MULTILINE)


def samples_from_passes(output: str) -> dict:
    """The windows of one run from perf_analyzer's verbose report (``-v``: one ``Pass [k] throughput``
    line per measurement window), for a run whose profile export is unusable: perf_analyzer 2.51 records
    system-shared-memory inputs as stray bytes, and rapidjson stops writing at the first that reads as a
    NaN float, so models with many FP32 inputs lose their export. Windows, but no per-request latencies
    (no p99 interval)."""
    windows = [round(float(v), 3) for v in PASS.findall(output)]
    counts = REQUEST_COUNT.findall(output)
    if not windows:
        return {}
    return {"throughput": windows, "latency_us": [], "requests": int(counts[-1]) if counts else 0,
            "source": "perf_analyzer passes (profile export unusable)"}


def perf_command(runtime: Runtime, model: str, url: str, batch: int, csv: Path, input_data: Path,
                 s: PerfSettings, interval_ms: int) -> list[str]:
    return [*runtime.perf_analyzer_argv(), "-m", model, "-u", url, "-i", s.protocol, "-b", str(batch),
            "--concurrency-range", f"{s.concurrency}:{s.concurrency}", "--shared-memory", s.shared_memory,
            "--output-shared-memory-size", str(max(524288, 4 * batch)), "--input-data", str(input_data),
            "--measurement-mode", "time_windows", "--measurement-interval", str(interval_ms),
            "--stability-percentage", str(s.stability_percentage), "--max-trials", str(s.max_trials),
            "-v", "--verbose-csv", "-f", str(csv), "--profile-export-file", str(csv.with_suffix(".export.json"))]


def is_stable(output: str) -> bool:
    return not any(marker in output for marker in UNSTABLE_MARKERS)


RELAXED_STABILITY = 1000  # percent: perf_analyzer then accepts the first windows it measures


def log_excerpt(output: str, lines: int = 6) -> str:
    return "\n".join(output.strip().splitlines()[-lines:])


def run_perf_analyzer(runtime: Runtime, cmd: list[str], csv: Path, log: Path, label: str,
                      timeout_s: float) -> tuple[int, str]:
    """One perf_analyzer run; its command and output are appended to the measurement's log."""
    csv.unlink(missing_ok=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=runtime.env(), timeout=timeout_s)
    output = proc.stdout + proc.stderr
    with log.open("a") as fh:
        fh.write(f"### attempt {label}\n{' '.join(cmd)}\n\n{output}\n")
    return proc.returncode, output


def measure(runtime: Runtime, model: str, url: str, batch: int, out_dir: Path, input_data: Path,
            s: PerfSettings, timeout_s: float = 600) -> Measurement:
    """Strict attempts with a doubling window; if none is stable, one last measurement with the
    stability criterion relaxed, kept and marked ``stable=False`` (a row is marked, never dropped).
    A measurement whose profile export is unusable takes its windows from perf_analyzer's verbose report,
    or, where that has none either, is retaken once for its samples."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = point_name(model, batch, s.concurrency)
    csv, log = out_dir / f"{stem}.csv", out_dir / f"{stem}.log"
    attempts = int(s.retries) + 1
    for attempt in range(1, attempts + 2):
        relaxed = attempt > attempts
        interval = s.interval_ms * 2 ** (min(attempt, attempts) - 1)  # the relaxed run keeps the longest window
        cmd = perf_command(runtime, model, url, batch, csv, input_data, s, interval)
        if relaxed:
            cmd[cmd.index("--stability-percentage") + 1] = str(RELAXED_STABILITY)
        label = f"{attempt}{' (stability relaxed)' if relaxed else ''}"
        returncode, output = run_perf_analyzer(runtime, cmd, csv, log, label, timeout_s)
        stable = is_stable(output)
        if returncode != 0 and stable:
            raise PerfError(f"perf_analyzer failed for {model} batch {batch} (exit {returncode}):\n"
                            f"{log_excerpt(output)}")
        if csv.exists() and (stable or relaxed):
            samples = take_samples(csv, batch) or passes_noted(output, log)
            if not samples:  # neither the export nor the verbose report has windows: retake once
                kept = csv.read_bytes()
                _, retake = run_perf_analyzer(runtime, cmd, csv, log, f"{label} retaken for its samples", timeout_s)
                if csv.exists() and (is_stable(retake) or relaxed):
                    samples = take_samples(csv, batch) or passes_noted(retake, log)
                else:
                    csv.write_bytes(kept)
            samples = top_up(runtime, cmd, csv, log, label, timeout_s, batch, samples, s.min_windows)
            return Measurement(model, batch, csv, stable and not relaxed, attempt, interval, log, samples)
    raise PerfError(f"perf_analyzer produced no measurement for {model} batch {batch}, even with the stability "
                    f"criterion relaxed:\n{log_excerpt(output)}")


def passes_noted(output: str, log: Path) -> dict:
    samples = samples_from_passes(output)
    with log.open("a") as fh:
        fh.write(f"### samples: {len(samples['throughput'])} windows from perf_analyzer's passes (-v)\n" if samples
                 else "### samples: no windows in perf_analyzer's report either: this row has no repeated samples\n")
    return samples


TOP_UPS = 2   # at most this many extra runs for a row with too few windows


def top_up(runtime: Runtime, cmd: list[str], csv: Path, log: Path, label: str, timeout_s: float, batch: int,
           samples: dict, min_windows: int = MIN_WINDOWS) -> dict:
    """perf_analyzer stops after 3 stable windows; a comparison needs at least MIN_WINDOWS. Further runs
    of the same command (each a new client: the spread between runs counts) add their windows and
    requests to the row's samples; the row's figures stay those of the first run."""
    extra = csv.with_name(csv.stem + ".topup.csv")
    for n in range(1, TOP_UPS + 1):
        if not samples or len(samples.get("throughput", [])) >= min_windows:
            break
        more_cmd = [extra.as_posix() if c == csv.as_posix() else c for c in cmd]
        more_cmd[more_cmd.index("--profile-export-file") + 1] = str(extra.with_suffix(".export.json"))
        returncode, output = run_perf_analyzer(runtime, more_cmd, extra, log,
                                               f"{label}, top-up {n} for more windows", timeout_s)
        more = (take_samples(extra, batch) or passes_noted(output, log)) if returncode == 0 and extra.exists() else {}
        extra.unlink(missing_ok=True)
        if not more:
            break
        samples = {**samples, "throughput": samples["throughput"] + more["throughput"],
                   "latency_us": samples["latency_us"] + more["latency_us"],
                   "requests": samples["requests"] + more["requests"], "runs": samples.get("runs", 1) + 1}
    return samples


def take_samples(csv: Path, batch: int) -> dict[str, list[float]]:
    """Samples from the profile export, which is then removed (it grows with the request count)."""
    export = csv.with_suffix(".export.json")
    samples = samples_from_export(export, batch)
    export.unlink(missing_ok=True)
    return samples


def read_pa_csv(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path)
    missing = [c for c in PERF_ANALYZER_COLUMNS if c not in frame.columns]
    if missing:
        raise PerfError(f"{path}: perf_analyzer CSV lacks columns {missing}")
    return frame


def normalise(measurement: Measurement) -> dict:
    """One canonical row (repro.measure.metrics; µs, as perf_analyzer reports) plus how it was measured."""
    out = {"batch": measurement.batch, **from_perf_analyzer(read_pa_csv(measurement.csv).iloc[0])}
    bad = sorted(name for name, value in out.items() if not math.isfinite(value))
    if bad:
        raise PerfError(f"{measurement.csv}: perf_analyzer reported non-finite {', '.join(bad)} for "
                        f"{measurement.model} batch {measurement.batch}; see {measurement.log}")
    out.update({"stable": measurement.stable, "attempts": measurement.attempts,
                "measurement_interval_ms": measurement.interval_ms})
    return out


def measured_frame(rows: list[dict]) -> pd.DataFrame:
    frame = pd.DataFrame(rows)
    metrics = [m.name for m in METRICS if m.name in frame.columns]
    ordered = metrics + [c for c in frame.columns if c not in metrics]
    return frame[ordered].sort_values(["batch", "concurrency"], kind="stable").reset_index(drop=True)


COMPOSING = re.compile(r"^\s{2}(\S+), version: (\d+)\n(?:.*\n)*?\s+Avg request latency: \d+ usec \(overhead (\d+) usec "
                       r"\+ queue (\d+) usec \+ compute input (\d+) usec \+ compute infer (\d+) usec "
                       r"\+ compute output (\d+) usec\)", re.MULTILINE)


def composing_breakdown(measurement: Measurement) -> list[dict]:
    """Per-composing-model server times of an ensemble run, read from perf_analyzer's report
    (the sparse/dense breakdown; version 2.51 prints it rather than writing per-model CSVs)."""
    text = measurement.log.read_text()
    text = text[text.find("Composing models:"):] if "Composing models:" in text else ""
    return [{"Batch": measurement.batch, "model": m[0], "Overhead": int(m[2]), "Server Queue": int(m[3]),
             "Server Compute Input": int(m[4]), "Server Compute Infer": int(m[5]), "Server Compute Output": int(m[6])}
            for m in COMPOSING.findall(text)]


def summary_metrics(frames: dict[str, pd.DataFrame]) -> dict:
    """Throughput and p99 per table and batch: a DVC metrics file, so `dvc metrics diff` shows perf."""
    return {name: {point_name("", int(r["batch"]), int(r["concurrency"]))[1:]: {"infer_per_s": round(float(r[THROUGHPUT]), 1),
                                            "p99_us": int(r[P99]), "stable": bool(r["stable"])}
                   for _, r in frame.iterrows()} for name, frame in sorted(frames.items())}
