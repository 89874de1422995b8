"""Render results tables in their published markdown form (tabulate's pipe format).

One renderer serves published and measured tables alike, so a regenerated table looks exactly like
its published counterpart. A style says, per column, how values are published:
``int`` (rounded integer), ``sci`` (``%.2e``, e.g. 3.64e+05), ``f2`` (two decimals), ``r1``/``r3``
(rounded to 1 or 3 decimals, printed ``%g``-style by tabulate), ``text``.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from tabulate import tabulate


@dataclass(frozen=True)
class Style:
    formats: dict[str, str]     # column -> format; columns not listed use ``default``
    default: str
    index: bool = False         # pandas-style 0..n-1 index column
    flat: bool = False          # published flattened onto one line (seed 002)
    tablefmt: str = "pipe"      # "github" for the hand-written table without alignment colons

    def format_of(self, column: str) -> str:
        return self.formats.get(column, self.default)


STYLES: dict[str, Style] = {
    "dlrm": Style({"Inferences/Second": "sci"}, default="int", index=True),
    "widedeep": Style({"Batch": "int", "Concurrency": "int"}, default="f2", flat=True),
    "resnet_offline": Style({"Precision": "text", "Backend Accelerator": "text", "Client Batch Size": "int",
                             "Inferences/second": "r1"}, default="r3"),
    "resnet_online": Style({"Concurrent client requests": "int", "Inferences/second": "r1"}, default="r3"),
    "hps_benchmark": Style({"Speedup - FP16 TRT with HPS to Native TF": "f2"}, default="int", tablefmt="github"),
    "native_benchmark": Style({"Speedup - HPS-file ensemble to Native TF": "f2"}, default="int", tablefmt="github"),
}


def style_for(style: str, scenario: str) -> str:
    """A family's table style in one scenario: ResNet50 publishes its offline and online tables in two
    layouts (``resnet`` -> ``resnet_offline`` / ``resnet_online``); the others use one for both."""
    return f"{style}_{scenario}" if f"{style}_{scenario}" in STYLES else style


FLOATFMT = {"sci": ".2e", "f2": ".2f", "r1": "g", "r3": "g", "int": "g", "text": "g"}


def typed_column(values: pd.Series, fmt: str) -> list:
    """Values as the Python types tabulate formats the published way."""
    if fmt == "text":
        return values.astype(str).tolist()
    if fmt == "int":
        return [int(round(float(v))) for v in values]
    if fmt in ("r1", "r3"):
        return [round(float(v), int(fmt[1])) for v in values]
    return [float(v) for v in values]


def render_markdown(frame: pd.DataFrame, style: str) -> str:
    """The table as published: pipe table, published number formats, pandas index if published."""
    spec = STYLES[style]
    columns = list(frame.columns)
    data = list(zip(*(typed_column(frame[c], spec.format_of(c)) for c in columns)))
    floatfmt = [FLOATFMT[spec.format_of(c)] for c in columns]
    headers = columns
    if spec.index:
        data = [(i, *row) for i, row in enumerate(data)]
        headers, floatfmt = ["", *columns], ["g", *floatfmt]
    return tabulate(data, headers=headers, tablefmt=spec.tablefmt, floatfmt=floatfmt)


def render_flat(frame: pd.DataFrame, style: str) -> str:
    """Seed 002's one-line form: 'Results Table | h1 | h2 | |---:| ... | | v1 | v2 |'."""
    lines = render_markdown(frame, style).splitlines()
    return "Results Table " + " ".join(" ".join(line.split()) for line in lines)


def separator_marker(cell: str) -> str:
    """'|--------:|' and '|---:|' are the same column alignment: keep only the colons."""
    return (":" if cell.startswith(":") else "") + "-" + (":" if cell.endswith(":") else "")


def split_flat(line: str) -> list[list[str]]:
    """Rows of seed 002's one-line table ('Results Table | h1 | h2 | |---:|---:| | v1 | v2 |');
    the row width is the number of cells before the separator row."""
    cells = [c.strip() for c in line.strip().removeprefix("Results Table").split("|") if c.strip()]
    width = next((n for n, c in enumerate(cells) if set(c) <= set("-:")), 0)
    if width == 0 or len(cells) % width:
        raise ValueError(f"{len(cells)} cells do not split into rows of {width} columns")
    return [cells[k:k + width] for k in range(0, len(cells), width)]


def normalised_cells(text: str) -> list[list[str]]:
    """A pipe table (multi-line, or seed 002's one-line form) as rows of whitespace-stripped cells,
    separator cells reduced to their alignment: equal for tables that differ only in padding."""
    text = text.strip()
    if text.startswith("Results Table"):
        rows = split_flat(text)
    else:
        rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in text.splitlines()]
    return [[separator_marker(c) if c and set(c) <= set("-:") else c for c in row] for row in rows]
