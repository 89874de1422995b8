"""Stage `published`: regenerate the published results registry from the source documents.

    python -m stages.published --seeds ../shared/seeds --out results/published
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from repro import atomic
from repro.published.parse import PublishedParseError, PublishedTable, parse_seed
from repro.published.registry import build_index


def parse_all(seeds: Path) -> list[PublishedTable]:
    files = sorted(seeds.glob("0*.txt"))
    if not files:
        raise FileNotFoundError(f"no source documents (0*.txt) in {seeds}: point SEEDS at the folder that holds "
                                "them, e.g. `make published SEEDS=../shared/seeds`.")
    return [table for path in files for table in parse_seed(path)]


def write_registry(tables: list[PublishedTable], out: Path) -> int:
    """Parse everything first, then swap the whole registry in at once."""
    index = build_index(tables)
    with atomic.replace_dir(out) as staging:
        for table, file in zip(tables, index["file"]):
            atomic.write_csv(staging / Path(file).name, table.frame)
        atomic.write_csv(staging / "index.csv", index)
    return len(index)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="registry directory, relative to the repo root")
    args = parser.parse_args(argv)
    try:
        count = write_registry(parse_all(args.seeds), args.out)
    except (PublishedParseError, FileNotFoundError, ValueError) as exc:
        print(f"published: error: {exc}", file=sys.stderr)
        return 2
    print(f"published: {count} tables from {args.seeds} -> {args.out}/index.csv")
    return 0


if __name__ == "__main__":
    sys.exit(main())
