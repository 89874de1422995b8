"""`make show-published TABLE=<table_id>`: print one registry table in its published form.

    python -m tools.show_published --show <table_id>
"""
from __future__ import annotations

import argparse
import sys

from repro.published.registry import load_index, load_table, render_table


def main(argv: list[str] | None = None) -> int:
    import argparse


    from repro import paths

    parser = argparse.ArgumentParser(description="Print a published table from the registry.")
    parser.add_argument("--show", required=True, metavar="TABLE_ID")
    args = parser.parse_args(argv)
    index = load_index(paths.PUBLISHED_INDEX)
    match = index[index["table_id"] == args.show]
    if match.empty:
        print(f"registry: no table '{args.show}' in {paths.PUBLISHED_INDEX}; ids look like "
              f"{index['table_id'].iloc[0]} (see the table_id column).", file=sys.stderr)
        return 2
    row = match.iloc[0]
    print(f"#### {row['title']}\n")
    print(render_table(row["style"], load_table(paths.ROOT, row["file"])))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
