"""The one declarative table of measured metrics: each perf_analyzer column's canonical snake_case
name (with its unit), direction, the repeated samples that back it, and its published header per
table style. perf writes canonical rows; tables, plots, compare and compare-published read this table.

Styles publish in their own unit: DLRM in µs (perf_analyzer's own), Wide & Deep and ResNet50 in ms.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd


@dataclass(frozen=True)
class Metric:
    name: str                         # canonical column of measured CSVs
    column: str                       # perf_analyzer's CSV column (also the DLRM published header)
    unit: str                         # "", "infer/s" or "us"
    higher_is_better: bool | None     # None: a coordinate (batch, concurrency), not a result
    samples: str | None = None        # key of the repeated samples behind it (perf/samples/*.json)
    published: dict[str, str] = field(default_factory=dict)   # style -> published header


def time_metric(name: str, column: str, resnet: str | None = None, **extra: str) -> Metric:
    """A latency component or percentile: µs, lower is better, ms in the W&D and ResNet50 tables."""
    headers = {"dlrm": column, "widedeep": f"{column} (ms)", **extra}
    if resnet:
        headers["resnet_online"] = resnet
    return Metric(name, column, "us", False, "latency_us" if name.startswith("latency_p") else None, headers)


METRICS: tuple[Metric, ...] = (
    Metric("batch", "Batch", "", None, None,
           {"dlrm": "Batch", "widedeep": "Batch", "resnet_offline": "Client Batch Size"}),
    Metric("concurrency", "Concurrency", "", None, None,
           {"dlrm": "Concurrency", "widedeep": "Concurrency", "resnet_online": "Concurrent client requests"}),
    Metric("throughput_infer_per_s", "Inferences/Second", "infer/s", True, "throughput",
           {"dlrm": "Inferences/Second", "widedeep": "Inferences/Second", "resnet_offline": "Inferences/second",
            "resnet_online": "Inferences/second"}),
    time_metric("client_send_us", "Client Send", "Client Send"),
    time_metric("network_server_send_recv_us", "Network+Server Send/Recv", "Network+server Send/recv"),
    time_metric("server_queue_us", "Server Queue", "Server Queue"),
    time_metric("server_compute_input_us", "Server Compute Input", "Server Compute Input"),
    time_metric("server_compute_infer_us", "Server Compute Infer", "Server Compute Infer"),
    time_metric("server_compute_output_us", "Server Compute Output", "Server Compute Output"),
    time_metric("client_recv_us", "Client Recv", "Client Recv"),
    time_metric("latency_p50_us", "p50 latency", "P50 Latency"),
    time_metric("latency_p90_us", "p90 latency", "P90 Latency", resnet_offline="P90 Latency"),
    time_metric("latency_p95_us", "p95 latency", "P95 Latency", resnet_offline="P95 Latency"),
    time_metric("latency_p99_us", "p99 latency", "P99 Latency", resnet_offline="P99 Latency"),
    # published tables give the sum of the seven components as the average (perf_analyzer has no column)
    time_metric("latency_avg_us", "avg latency", "Avg Latency", resnet_offline="Avg Latency"),
)
BY_NAME = {m.name: m for m in METRICS}
COMPONENTS = [m.name for m in METRICS if m.unit == "us" and not m.name.startswith("latency_")]
PERF_ANALYZER_COLUMNS = [m.column for m in METRICS if m.name not in ("batch", "latency_avg_us")]
STYLE_UNIT = {"dlrm": "us", "widedeep": "ms", "resnet_offline": "ms", "resnet_online": "ms"}
SCALE = {"us": 1.0, "ms": 1e-3}
THROUGHPUT, P50, P99 = "throughput_infer_per_s", "latency_p50_us", "latency_p99_us"
COMPARED = [BY_NAME[name] for name in (THROUGHPUT, P50, P99)]   # what `make compare` classifies


def columns(style: str) -> list[Metric]:
    """The metrics a published style shows, in its column order."""
    return [m for m in METRICS if style in m.published]


def from_perf_analyzer(row: pd.Series) -> dict[str, float]:
    """One perf_analyzer CSV row as canonical metrics (µs), with the published average."""
    out = {m.name: float(row[m.column]) for m in METRICS if m.column in row.index and m.name != "batch"}
    out["concurrency"] = int(row["Concurrency"])
    out["latency_avg_us"] = sum(out[c] for c in COMPONENTS)
    return out


def canonical(frame: pd.DataFrame, style: str | None = None) -> pd.DataFrame:
    """A frame with canonical column names: measured CSVs written before the table existed (perf_analyzer
    headers) or, given its style, a published table (headers and units back to µs)."""
    renames, scale = {}, 1.0
    if style is not None:
        renames = {m.published[style]: m.name for m in columns(style)}
        scale = SCALE[STYLE_UNIT[style]]
    renames.update({m.column: m.name for m in METRICS if m.column not in renames})
    out = frame.rename(columns=renames)
    for m in METRICS:
        if m.unit == "us" and m.name in out.columns and scale != 1.0:
            out[m.name] = out[m.name] / scale
    return out


def published(frame: pd.DataFrame, style: str) -> pd.DataFrame:
    """Canonical measured rows in a published style: its columns, headers and unit."""
    frame = canonical(frame)
    scale = SCALE[STYLE_UNIT[style]]
    return pd.DataFrame({m.published[style]: frame[m.name] * (scale if m.unit == "us" else 1.0)
                         for m in columns(style)})
