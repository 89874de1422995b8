"""Report sections shared by the GPU flavours that serve a configuration on two backends: the python
backend and the native C++ backend (repro/native) side by side at every measured point, the profile's
default and why, and the native backend's own clocks (its stats.json)."""
from __future__ import annotations

import pandas as pd
from tabulate import tabulate

from repro.measure.metrics import P99, THROUGHPUT, canonical
from repro.native.flavour import NATIVE, served_name

NATIVE_PHASES = {"copy in (ms)": "copy_in_us", "graph + copy out (ms)": "graph_and_copy_out_us",
                 "chunked pipeline (ms)": "chunked_us", "eager (ms)": "eager_us", "execute (ms)": "execute_us"}


def side_by_side(python: pd.DataFrame, native: pd.DataFrame, axis: str) -> pd.DataFrame:
    """Both backends' rows at the points both measured (``axis``: batch or concurrency), with their ratio."""
    p, n = python.set_index(axis), native.set_index(axis)
    shared = p.index.intersection(n.index)
    p, n = p.loc[shared], n.loc[shared]
    return pd.DataFrame({"python infer/s": p[THROUGHPUT], "native infer/s": n[THROUGHPUT],
                         "native/python": n[THROUGHPUT] / p[THROUGHPUT], "python p99 (us)": p[P99],
                         "native p99 (us)": n[P99], "both stable": p["stable"].astype(bool) & n["stable"].astype(bool)}
                        ).rename_axis(axis.capitalize()).reset_index()


def comparison(title: str, pairs: dict[str, tuple[pd.DataFrame, pd.DataFrame, str]], default: str, why: str,
               params_key: str) -> str:
    """``pairs``: label -> (python frame, native frame, axis). One table per label measured on both backends."""
    lines = []
    for label, (python, native, axis) in pairs.items():
        table = side_by_side(python, native, axis)
        if table.empty:
            continue
        faster = int((table["native/python"] > 1).sum())
        lines.append(f"`{label}`: native is faster at {faster} of {len(table)} points.\n\n"
                     + tabulate(table, headers="keys", tablefmt="pipe", showindex=False,
                                floatfmt=("g", ".4g", ".4g", ".3f", ".0f", ".0f")))
    return (f"#### {title}: python backend vs native C++ backend\n\n"
            f"The profile serves `{default}` by default (params.yaml: {params_key}): {why}. Both backends run the same "
            "engine code (the native one through libtorch: traced to TorchScript or, where a row's engine says so, compiled "
            "into an AOTInductor package) and are scored by the same accuracy gate (the "
            "accuracy section says which passed on this host). A ratio "
            "from rows that are not both stable is a lead, not a measurement.\n\n"
            + ("\n\n".join(lines) or "(no configuration measured on both backends yet)") + "\n")


def phase_cell(t: dict, key: str, scale: float = 1e-3, digits: int = 3) -> str:
    """A phase's mean, with the executions it covers where that is not all of them (``2.000 (of 170)``)."""
    if key not in t:
        return ""
    shown = f"{t[key] * scale:.{digits}f}"
    n = t.get(f"{key}_n", t["requests"])
    return shown if n == t["requests"] else f"{shown} (of {n})"


def native_clocks(stats: dict, names: list[str], shown: int = 4) -> str:
    """The native backend's own clocks (stats.json of each model's last server start): per executed batch, the
    most frequent ones, with how many requests the dynamic batcher joined into each and the padding."""
    rows, pooled = [], False
    for name in names:
        times = stats.get(name, {}).get("model_time_us", {})
        for batch in sorted(sorted(times, key=lambda b: -times[b]["requests"])[:shown], key=int):
            t = times[batch]
            pooled |= not any(k.endswith("_n") for k in t)
            rows.append([name, batch, t["requests"], phase_cell(t, "requests_joined", 1, 1) or "1",
                         phase_cell(t, "padded_rows", 1, 0) or "0", *(phase_cell(t, k) for k in NATIVE_PHASES.values())])
    if not rows:
        return ""
    copies = {n: (stats[n].get("registered_copies", 0), stats[n].get("gathered_copies", 0), stats[n].get("pageable_copies", 0))
              for n in names if n in stats}
    note = (" Figures written before the backend counted executions per phase (no `_n` keys) are means over all of "
            "a batch size's executions, whichever path ran: where single requests ran chunked and joined dynamic "
            "batches ran whole at the same size, each of those columns understates its own path." if pooled else "")
    return ("Inside the native backend (its own clocks, stats.json; mean per execution, ms; \"(of n)\": the executions "
            "that ran that phase):\n\n"
            + tabulate(rows, headers=["Model", "Executed batch", "Executions", "Requests joined", "Padded rows",
                                      *NATIVE_PHASES], tablefmt="pipe", disable_numparse=True)
            + "\n\nInput copies straight from the registered (page-locked) shared-memory region / request parts gathered "
              "on the host into pinned memory first (many small joined requests) / copies from pageable memory: "
            + "; ".join(f"{n} {r:,} / {g:,} / {p:,}" for n, (r, g, p) in copies.items()) + "." + note + "\n")


def family_section(title: str, perf, stems: list[str], stats: dict, default: str, why: str, params_key: str) -> str:
    """A GPU family's section: each configuration (``stems``: its python-backend served names) whose offline and
    online tables exist on both backends in ``perf``, side by side, and the native models' own clocks."""
    pairs = {}
    for stem in stems:
        for suffix, axis in (("", "batch"), ("_online", "concurrency")):
            python, native = perf / f"{stem}{suffix}.csv", perf / f"{served_name(stem, NATIVE)}{suffix}.csv"
            if python.exists() and native.exists():
                pairs[stem + suffix] = (canonical(pd.read_csv(python)), canonical(pd.read_csv(native)), axis)
    if not pairs:
        return ""
    return (comparison(title, pairs, default, why, params_key) + "\n"
            + native_clocks(stats, [served_name(stem, NATIVE) for stem in stems]))
