"""The container flavour's repository pieces that need no model: one HPS JSON per repository, CUDA graphs."""
from __future__ import annotations

import json

from repro.families.criteo.container_repository import hps_model_entry, merge_ps_json
from repro.families.criteo.repository import RepoSettings
from repro.serving import model_config as mcfg
from repro.serving.model_config import Tensor

LAYOUT = {"tables": ["sparse_embedding0"], "embedding_dim": 128, "features": 26}
SETTINGS = RepoSettings(65536, 1, "KIND_GPU", 2, 0.1)


def test_one_ps_json_lists_every_hps_model_sorted(tmp_path):
    path = tmp_path / "ps.json"
    merge_ps_json(path, hps_model_entry("dlrm", LAYOUT, SETTINGS, "/repo"))
    merge_ps_json(path, hps_model_entry("dcnv2", LAYOUT, SETTINGS, "/repo"))
    merge_ps_json(path, hps_model_entry("dlrm", LAYOUT, SETTINGS, "/repo"))        # re-written: replaced, not doubled
    ps = json.loads(path.read_text())
    assert [m["model"] for m in ps["models"]] == ["dcnv2_hps_sparse", "dlrm_hps_sparse"]
    assert ps["models"][1]["sparse_files"] == ["/repo/dlrm_hps_sparse/1/sparse_embedding0"]   # the mount, not /models


def test_cuda_graphs_are_captured_for_the_swept_batches():
    config = mcfg.tensorrt_dense("d", 65536, [Tensor("args_0", "FP32", (13,))], Tensor("output_1", "FP32", (1,)), 2,
                                 (256, 65536))
    assert config.optimization.cuda.graphs
    assert [(g.batch_size, list(g.input["args_0"].dim)) for g in config.optimization.cuda.graph_spec] == \
        [(256, [13]), (65536, [13])]
