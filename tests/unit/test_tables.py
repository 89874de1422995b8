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
