"""Render comparisons: a markdown report (tabulate) and an offline HTML page (inline SVG plots of
both revisions overlaid; no scripts, no fonts, nothing fetched from the network)."""
from __future__ import annotations

import html
import io
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from tabulate import tabulate  # noqa: E402

from repro.compare.classify import Row, Verdict  # noqa: E402
from repro.measure.metrics import P99, THROUGHPUT  # noqa: E402
from repro.report.measured import batch_axis  # noqa: E402  (also sets the deterministic SVG settings)

HEADERS = ["table", "batch", "conc.", "metric", "base", "head", "ratio", "p-value", "verdict", "why"]


def verdict_rows(verdicts: list[Verdict]) -> list[list]:
    fmt = lambda v, f: "" if v is None else format(v, f)  # noqa: E731
    return [[v.table, v.batch, v.concurrency, v.metric, fmt(v.base, ".6g"), fmt(v.head, ".6g"), fmt(v.ratio, ".3f"),
             fmt(v.p_value, ".3g"), v.verdict, v.reason] for v in verdicts]


def summary(verdicts: list[Verdict]) -> str:
    counts = Counter(v.verdict for v in verdicts)
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))


def markdown(title: str, verdicts: list[Verdict], basis: str = "") -> str:
    return (f"# {title}\n\n{summary(verdicts)}\n\n" + (f"{basis}\n\n" if basis else "")
            + tabulate(verdict_rows(verdicts), headers=HEADERS, tablefmt="pipe", disable_numparse=True) + "\n")


def overlay_svg(base: list[Row], head: list[Row], table: str, column: str, labels: tuple[str, str]) -> str:
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    batches = []
    for rows, label, style in ((base, labels[0], "o--"), (head, labels[1], "s-")):
        pts = sorted((r.batch, r.values[column]) for r in rows if r.table == table)
        if pts:
            ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
            batches += [p[0] for p in pts]
    batch_axis(ax, batches)
    ax.set(xlabel="batch size", ylabel=column, title=f"{table}: {column}")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg"):]


def html_page(title: str, verdicts: list[Verdict], base: list[Row], head: list[Row], labels: tuple[str, str],
              basis: str = "") -> str:
    tables = sorted({r.table for r in base} | {r.table for r in head})
    plots = "".join(f"<h2>{html.escape(t)}</h2><div class='plots'>"
                    + overlay_svg(base, head, t, THROUGHPUT, labels)
                    + overlay_svg(base, head, t, P99, labels) + "</div>" for t in tables)
    body = tabulate(verdict_rows(verdicts), headers=HEADERS, tablefmt="html", disable_numparse=True)
    style = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
             "padding:2px 6px}.plots svg{width:48%;height:auto}")
    return (f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body><h1>{html.escape(title)}</h1>"
            f"<p>{html.escape(summary(verdicts))}</p><p>{html.escape(basis)}</p>"
            f"{body}{plots}</body></html>\n")
