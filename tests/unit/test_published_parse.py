from __future__ import annotations

import pytest

from repro.published.parse import PublishedParseError, parse_flat_doc, parse_markdown_doc, parse_number

DLRM_DOC = """### Offline scenario
#### Offline: DLRM on NVIDIA A30, Merlin HPS + TensorRT with FP32
| Parameter Name               | Parameter Value              |
|:-----------------------------|:-----------------------------|
| GPU                          |NVIDIA A30            |
| Model size | 22B parameters |

|    |   Batch |   Inferences/Second |
|---:|--------:|--------------------:|
|  0 |     256 |            3.64e+05 |
|  1 |    1024 |            1.25e+06 |
"""


def test_numbers_keep_published_meaning():
    assert parse_number("3.64e+05") == 364000 and isinstance(parse_number("3.64e+05"), int)
    assert parse_number("256") == 256
    assert parse_number("0.02") == 0.02
    assert parse_number("517.00") == 517.0


def test_markdown_table_parsed_without_index():
    (table,) = parse_markdown_doc(DLRM_DOC, "000_x.txt", {"offline": "dlrm", "online": "dlrm"})
    assert list(table.frame.columns) == ["Batch", "Inferences/Second"]
    assert table.frame["Inferences/Second"].tolist() == [364000, 1250000]
    assert table.meta["Model size"] == "22B parameters"
    assert table.line == 2


def test_ragged_row_names_file_heading_and_line():
    broken = DLRM_DOC.replace("|  1 |    1024 |            1.25e+06 |", "|  1 |    1024 |")
    with pytest.raises(PublishedParseError, match=r"000_x\.txt:11: in table 'Offline: DLRM on NVIDIA A30.*2 cells"):
        parse_markdown_doc(broken, "000_x.txt", {"offline": "dlrm", "online": "dlrm"})


def test_non_numeric_cell_is_reported():
    broken = DLRM_DOC.replace("1.25e+06", "fast")
    with pytest.raises(PublishedParseError, match=r"000_x\.txt:11: .*'Inferences/Second' has a non-numeric value 'fast'"):
        parse_markdown_doc(broken, "000_x.txt", {"offline": "dlrm", "online": "dlrm"})


def test_heading_without_table_is_reported():
    with pytest.raises(PublishedParseError, match=r"000_x\.txt:1: .*no results table"):
        parse_markdown_doc("#### Offline: DLRM on NVIDIA T4\nno table here\n", "000_x.txt", {"offline": "dlrm"})


FLAT_DOC = """Offline: NVIDIA A30, TensorFlow with FP32
Parameter Name Parameter Value
GPU NVIDIA A30
Precision FP32
Results Table | Batch | Concurrency | |--------:|--------------:| | 1 | 1 | | 16384 | 1 |
"""


def test_flat_table_split_into_rows():
    (table,) = parse_flat_doc(FLAT_DOC, "002_x.txt")
    assert table.frame.to_dict("list") == {"Batch": [1, 16384], "Concurrency": [1, 1]}
    assert table.meta == {"GPU": "NVIDIA A30", "Precision": "FP32"}


def test_flat_table_with_missing_cell_is_reported():
    with pytest.raises(PublishedParseError, match=r"002_x\.txt:5: .*do not split into rows of 2"):
        parse_flat_doc(FLAT_DOC.replace("| 16384 | 1 |", "| 16384 |"), "002_x.txt")


def test_flat_unknown_parameter_is_reported():
    with pytest.raises(PublishedParseError, match=r"002_x\.txt:3: .*unknown parameter line 'Colour blue'"):
        parse_flat_doc(FLAT_DOC.replace("GPU NVIDIA A30", "Colour blue"), "002_x.txt")
