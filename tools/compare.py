"""`make compare` and `make compare-published`.

    python -m tools.compare revisions --base HEAD~1 [--head REV] [--gpu cpu] [--noise F]
    python -m tools.compare published --gpu cpu

Exit codes: 0 nothing got worse, 1 something got worse, 2 bad input (unknown revision, missing
results, mismatched profiles).
"""
from __future__ import annotations

import argparse
import json
import sys

import pandas as pd

from repro import atomic, paths
from repro.compare.classify import classify, has_regression
from repro.compare.noise import compare_params
from repro.errors import UserError
from repro.compare.render import html_page, markdown
from repro.compare.published import counterparts, render
from repro.families import family_of
from repro.params import load_params
from repro.compare.revisions import RevisionError, describe, load_rows, read_text, resolve

REPORTS = paths.ROOT / "reports"


def noise_of(gpu: str, override: float | None) -> tuple[dict[str, float] | float, float, str]:
    """(noise factors, alpha, where the factors come from): params.yaml `compare`, or --noise for every metric."""
    settings = compare_params(load_params())
    noise, source = settings.envelope(gpu)
    return (override, settings.alpha, "--noise") if override is not None else (noise, settings.alpha, source)


def compare_revisions(base: str, head: str | None, gpu: str, override: float | None) -> int:
    base_commit, head_commit = resolve(base), resolve(head)
    base_rows, head_rows = load_rows(base_commit, gpu), load_rows(head_commit, gpu)
    noise, alpha, source = noise_of(gpu, override)
    verdicts = classify(base_rows, head_rows, noise=noise, alpha=alpha)
    labels = (f"{base} ({describe(base_commit)})", head or "workspace")
    title = f"Profile {gpu}: {labels[1]} vs {labels[0]}"
    factors = noise if isinstance(noise, dict) else {"every metric": noise}
    basis = ("Run-to-run envelope: " + ", ".join(f"{m} x{f:g}" for m, f in factors.items())
             + f" ({source}); alpha {alpha:g}.")
    text = markdown(title, verdicts, basis)
    print(text)
    stem = f"compare-{gpu}-{describe(base_commit)}-vs-{describe(head_commit)}"
    atomic.write_text(REPORTS / f"{stem}.md", text)
    atomic.write_text(REPORTS / f"{stem}.html", html_page(title, verdicts, base_rows, head_rows, labels, basis))
    print(f"reports: {REPORTS / stem}.md, {REPORTS / stem}.html")
    if has_regression(verdicts):
        print("compare: something got worse (exit 1)", file=sys.stderr)
        return 1
    return 0


def compare_published(gpu: str) -> int:
    perf = paths.results_dir(gpu) / "perf"
    settings = read_text(None, f"results/{gpu}/perf/settings.json")
    if settings is None:
        raise RevisionError(f"no measured results for profile '{gpu}' ({perf}/settings.json); run `make deploy-{gpu}`.")
    s = json.loads(settings)
    sections = [f"# Profile {gpu} vs the published tables\n"]
    params, shown = load_params(), set()
    for name, table in s["tables"].items():
        family = family_of(params, table["model"])
        csv = perf / f"{name}.csv"
        if not csv.exists():
            continue
        frame = pd.read_csv(csv)
        precision = str(frame["precision"].iloc[0]) if "precision" in frame else s["precision"]
        preset = str(frame["preset"].iloc[0]) if "preset" in frame else s["preset"]
        found = counterparts(family.published_counterpart(name), None, preset, table["scenario"])
        found.sort(key=lambda cp: cp.precision != precision.upper())   # the same precision first
        if not found:
            sections.append(f"#### {name}: no published counterpart (same model, scenario)\n")
        sections += [render(name, frame, preset, cp) for cp in found]
        shown.update(cp.table_id for cp in found)
    sections.insert(1, f"{len(shown)} published tables shown beside this profile's measured tables.\n")
    text = "\n".join(sections)
    print(text)
    atomic.write_text(REPORTS / f"published-{gpu}.md", text)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    rev = sub.add_parser("revisions")
    rev.add_argument("--base", required=True)
    rev.add_argument("--head", default=None, help="default: the workspace")
    rev.add_argument("--gpu", default="cpu")
    rev.add_argument("--noise", type=float, default=None,
                     help="one ratio factor for every metric (default: params.yaml compare.noise.<profile>)")
    pub = sub.add_parser("published")
    pub.add_argument("--gpu", default="cpu")
    args = parser.parse_args(argv)
    try:
        if args.command == "revisions":
            return compare_revisions(args.base, args.head, args.gpu, args.noise)
        return compare_published(args.gpu)
    except (UserError, FileNotFoundError) as exc:   # RevisionError, params.yaml's compare section
        print(f"compare: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
