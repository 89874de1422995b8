"""What the h100 kit carries: every repository file, or only the top-level folders one run needs (the lent GPU
machine takes 64 MiB in a call, the checkout included), always with the repositories' manifest."""
from __future__ import annotations

import pytest

from repro.profiles.h100.kit import carried_files


def repos(tmp_path):
    for f in ("manifest.json", "graphs/dlrm/dense.onnx", "gate/dlrm/tables.npz", "widedeep/graph/model.onnx",
              "resnet50/fitted.pt", "resnet50/perf/m/1/spec.json"):
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f).write_text(f)
    return tmp_path


def test_all_files_by_default_and_only_the_named_parts_otherwise(tmp_path):
    root = repos(tmp_path)
    assert len(carried_files(root, None)) == 6
    names = [str(p.relative_to(root)) for p in carried_files(root, ["widedeep", "resnet50"])]
    assert names == ["manifest.json", "resnet50/fitted.pt", "resnet50/perf/m/1/spec.json", "widedeep/graph/model.onnx"]


def test_an_unknown_part_names_the_ones_there(tmp_path):
    with pytest.raises(SystemExit, match="has no folder resnet; choose among gate, graphs, resnet50, widedeep"):
        carried_files(repos(tmp_path), ["resnet"])
