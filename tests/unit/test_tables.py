from __future__ import annotations

import pandas as pd

from repro.report.render import normalised_cells, render_markdown


def test_dlrm_style_matches_published_number_formats():
    frame = pd.DataFrame({"Batch": [256], "Concurrency": [1], "Inferences/Second": [364123.4], "Client Send": [21.6]})
    text = render_markdown(frame, "dlrm")
    assert text.splitlines()[2] == "|  0 |     256 |             1 |            3.64e+05 |            22 |"


def test_normalised_cells_ignore_padding_and_dash_width():
    a = "| a  |   b |\n|:---|----:|\n| x  |   1 |"
    b = "|a|b|\n|:-|-:|\n|x|1|"
    assert normalised_cells(a) == normalised_cells(b)
    assert normalised_cells(a) != normalised_cells(b.replace("-:", "-"))


def test_a_table_measured_in_parts_on_two_devices_says_which_row_ran_where(tmp_path):
    """A time-limited host re-measures some points of a table on another GPU: the parameter table names each
    device with its points, and the report lists the tables of each device."""
    from repro.report.measured import label_of
    from stages.tables import devices_note
    offline = pd.DataFrame({"batch": [1, 2, 128], "concurrency": [1, 1, 1], "scenario": ["offline"] * 3,
                            "device": ["GPU A", "GPU A", "GPU B"]})
    assert label_of(offline, "device") == "GPU A (batch 1, 2); GPU B (batch 128)"
    online = offline.assign(scenario="online", batch=1, concurrency=[16, 32, 256])
    assert label_of(online, "device") == "GPU A (concurrency 16, 32); GPU B (concurrency 256)"
    assert label_of(offline.assign(device="GPU A"), "device") == "GPU A"
    offline.to_csv(tmp_path / "t1.csv", index=False)
    offline.assign(device="GPU B").to_csv(tmp_path / "t2.csv", index=False)
    note = devices_note(tmp_path, {"tables": {"t1": {}, "t2": {}}})
    assert note.startswith("Measured on more than one device") and "GPU A: t1; GPU B: t1, t2" in note
    assert devices_note(tmp_path, {"tables": {"t2": {}}}) == ""


def test_a_native_backend_table_says_the_native_backend_serves_it():
    """The parameter table's model format follows the rows' backend label: a native row never reads
    "python-backend model"."""
    from repro import paths
    from repro.report.measured import measured_markdown
    frame = pd.read_csv(paths.ROOT / "results/h100/perf/widedeep_gpu_fp16_systemshm_cpp.csv")
    native = measured_markdown(frame, "Wide & Deep", "small preset", 131072, 1, "widedeep")
    assert "one native C++ backend model (repro_torch: the whole model)" in native
    assert "python-backend" not in native.split("| Model format")[1].splitlines()[0]
    python = measured_markdown(frame.assign(backend="python"), "Wide & Deep", "small preset", 131072, 1, "widedeep")
    assert "one python-backend model (the whole model)" in python
