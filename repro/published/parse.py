"""Parse the published results tables out of the five source documents (../shared/seeds/).

Each document publishes its tables in its own dialect:
- 000/001 (DLRM, DCNv2): ``#### Offline: ...`` headings, a parameter table, a pandas-indexed table;
- 002 (Wide & Deep): the same content flattened to plain lines, each results table on ONE line;
- 003 (ResNet50): ``####`` headings, bullet parameters plus a per-scenario parameter table;
- 004 (HPS benchmark): one hand-written table under ``## Results``.
Every error names the file, the table heading and the line.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from repro.report.render import split_flat
from repro.errors import UserError


class PublishedParseError(UserError):
    def __init__(self, source: str, heading: str, line: int, message: str):
        super().__init__(f"{source}:{line}: in table '{heading}': {message}")


@dataclass
class PublishedTable:
    source: str                 # seed file name
    title: str                  # the published heading
    line: int                   # 1-based line of the heading
    style: str                  # key into repro.report.render.STYLES
    meta: dict[str, str]        # published parameters (section-wide ones merged in)
    frame: pd.DataFrame         # published columns and values
    text: list[str] = field(default_factory=list)  # the published table lines, verbatim


DOCUMENT_KINDS = {"000": "dlrm", "001": "dlrm", "002": "flat", "003": "resnet", "004": "benchmark"}
HEADING_MD = re.compile(r"^####\s+((?:Offline|Online):.*?)\s*$")
SECTION_MD = re.compile(r"^###\s+(Offline|Online) scenario")
HEADING_FLAT = re.compile(r"^((?:Offline|Online): NVIDIA .*?)\s*$")
FLAT_KEYS = ("NVIDIA TensorRT Capture CUDA Graph", "Number of model instances", "Backend accelerator",
             "Max batch size", "Export Format", "Model format", "Device Kind", "Precision", "Torch Jit",
             "Backend", "GPU")


def parse_number(token: str) -> int | float:
    """'256' -> 256, '3.64e+05' -> 364000 (published integers in %g form stay integers), '0.02' -> 0.02."""
    value = float(token)
    if re.fullmatch(r"-?\d+", token) or ("e" in token.lower() and value.is_integer()):
        return int(value)
    return value


def parse_cell(token: str) -> int | float | str:
    try:
        return parse_number(token)
    except ValueError:
        return token


def split_row(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def build_frame(header: list[str], rows: list[list[str]], drop_index: bool) -> pd.DataFrame:
    if drop_index:  # pandas-style index column: empty header, 0..n-1
        header, rows = header[1:], [row[1:] for row in rows]
    data = [[parse_cell(cell) for cell in row] for row in rows]
    return pd.DataFrame(data, columns=header)


def pipe_table(lines: list[str], start: int, source: str, heading: str) -> tuple[list[str], int]:
    """The consecutive '|' lines from ``start`` (0-based), checked for a consistent column count."""
    end = start
    while end < len(lines) and lines[end].lstrip().startswith("|"):
        end += 1
    block = lines[start:end]
    if len(block) < 3:
        raise PublishedParseError(source, heading, start + 1, "expected a header, a separator and rows")
    width = len(split_row(block[0]))
    for offset, line in enumerate(block):
        if len(split_row(line)) != width:
            raise PublishedParseError(source, heading, start + offset + 1,
                                      f"row has {len(split_row(line))} cells, the header has {width}")
    return block, end


def frame_from_block(block: list[str], source: str, heading: str, line: int) -> pd.DataFrame:
    header = split_row(block[0])
    rows = [split_row(row) for row in block[2:]]
    frame = build_frame(header, rows, drop_index=header[0] == "")
    for column in frame.columns[frame.dtypes == object]:
        if column not in ("Precision", "Backend Accelerator"):
            bad = frame[column][frame[column].map(lambda v: isinstance(v, str))]
            if len(bad):
                raise PublishedParseError(source, heading, line + 2 + int(bad.index[0]),
                                          f"column '{column}' has a non-numeric value '{bad.iloc[0]}'")
    return frame


def meta_from_pipe(block: list[str]) -> dict[str, str]:
    return {row[0]: row[1] for row in map(split_row, block[2:]) if len(row) >= 2}


def parse_markdown_doc(text: str, source: str, style_of: dict[str, str]) -> list[PublishedTable]:
    """Seeds 000, 001, 003: '####' headings, parameters, then the first results table."""
    lines = text.splitlines()
    tables: list[PublishedTable] = []
    section_meta: dict[str, str] = {}
    i = 0
    while i < len(lines):
        if SECTION_MD.match(lines[i]):
            section_meta = {}
        elif lines[i].startswith("| Parameter Name"):
            block, _ = pipe_table(lines, i, source, "section parameters")
            section_meta = meta_from_pipe(block)
        match = HEADING_MD.match(lines[i])
        if not match:
            i += 1
            continue
        heading, meta, j = match.group(1), dict(section_meta), i + 1
        while j < len(lines) and not lines[j].startswith("#"):
            bullet = re.match(r"^\s*\*\s+\*\*(.+?):\*\*\s*(.*)$", lines[j])
            if bullet:
                meta[bullet.group(1)] = bullet.group(2).strip()
            if lines[j].startswith("| Parameter Name"):
                block, j = pipe_table(lines, j, source, heading)
                meta.update(meta_from_pipe(block))
                continue
            if lines[j].startswith("|"):
                block, end = pipe_table(lines, j, source, heading)
                frame = frame_from_block(block, source, heading, j + 1)
                style = style_of["offline" if heading.startswith("Offline") else "online"]
                tables.append(PublishedTable(source, heading, i + 1, style, meta, frame, block))
                i = end
                break
            j += 1
        else:
            raise PublishedParseError(source, heading, i + 1, "no results table before the next heading")
    return tables


def flat_meta(lines: list[str], start: int, stop: int, source: str, heading: str) -> dict[str, str]:
    meta: dict[str, str] = {}
    for k in range(start, stop):
        line = lines[k].strip()
        if not line or line == "Parameter Name Parameter Value" or line.startswith("Our results"):
            continue
        key = next((key for key in FLAT_KEYS if line.startswith(key + " ")), None)
        if key is None:
            raise PublishedParseError(source, heading, k + 1, f"unknown parameter line '{line}'")
        meta[key] = line[len(key):].strip()
    return meta


def parse_flat_doc(text: str, source: str) -> list[PublishedTable]:
    """Seed 002: plain-text headings; each results table flattened onto one 'Results Table |' line."""
    lines = text.splitlines()
    tables: list[PublishedTable] = []
    for i, line in enumerate(lines):
        match = HEADING_FLAT.match(line)
        if not match:
            continue
        heading = match.group(1)
        j = next((k for k in range(i + 1, len(lines)) if lines[k].startswith("Results Table")), None)
        if j is None:
            raise PublishedParseError(source, heading, i + 1, "no 'Results Table' line after the heading")
        meta = flat_meta(lines, i + 1, j, source, heading)
        try:
            rows = split_flat(lines[j])
        except ValueError as exc:
            raise PublishedParseError(source, heading, j + 1, str(exc)) from None
        frame = build_frame(rows[0], rows[2:], drop_index=False)
        tables.append(PublishedTable(source, heading, i + 1, "widedeep", meta, frame, [lines[j]]))
    return tables


def parse_benchmark_doc(text: str, source: str) -> list[PublishedTable]:
    """Seed 004: one hand-written table of server-side compute-infer latency under '## Results'."""
    lines = text.splitlines()
    title = lines[0].lstrip("# ").strip()
    start = next((k for k, line in enumerate(lines) if line.startswith("| Batch size")), None)
    if start is None:
        raise PublishedParseError(source, "Results", 1, "no table starting with '| Batch size'")
    block, _ = pipe_table(lines, start, source, "Results")
    frame = frame_from_block(block, source, "Results", start + 1)
    gpu = re.search(r"`(A100-SXM4-80GB)", text)
    meta = {"GPU": gpu.group(1) if gpu else "", "Model architecture": "DLRM", "Number of model instances": "1",
            "Max batch size": "131072", "Precision": "FP32, FP16"}
    return [PublishedTable(source, f"{title}: Results", start + 1, "hps_benchmark", meta, frame, block)]


def parse_seed(path: Path) -> list[PublishedTable]:
    text, source = path.read_text(encoding="utf-8"), path.name
    kind = DOCUMENT_KINDS.get(source[:3])
    if kind is None:
        raise PublishedParseError(source, "-", 1, f"unknown source document; expected one of {sorted(DOCUMENT_KINDS)}")
    if kind == "flat":
        return parse_flat_doc(text, source)
    if kind == "benchmark":
        return parse_benchmark_doc(text, source)
    styles = {"offline": "resnet_offline", "online": "resnet_online"} if kind == "resnet" else \
        {"offline": "dlrm", "online": "dlrm"}
    return parse_markdown_doc(text, source, styles)

