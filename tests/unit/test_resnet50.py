"""ResNet50's pure parts: the synthetic images, the top-1 computation, the fit's rounding and head, its
sweeps, table layouts and published counterparts."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from repro.compare.published import counterparts, side_by_side
from repro.families.imagenet import dataset, gpu_flavour, model
from repro.families.imagenet.family import top1_agreement
from repro.families.imagenet.repository import trtexec_command
from repro.measure import scenarios
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.report.render import style_for


def test_images_are_seeded_224_with_imagenet_labels():
    a, b = dataset.make_dataset(5, dataset.PRESETS["tiny"]), dataset.make_dataset(5, dataset.PRESETS["tiny"])
    assert np.array_equal(a["valid"].images, b["valid"].images) and np.array_equal(a["train"].labels, b["train"].labels)
    assert a["train"].images.shape == (32, 224, 224, 3) and a["train"].images.dtype == np.uint8
    assert set(a["valid"].labels) <= set(a["train"].labels) and 0 <= a["train"].labels.min() <= a["train"].labels.max() < 1000
    assert not np.array_equal(dataset.make_dataset(6, dataset.PRESETS["tiny"])["valid"].images, a["valid"].images)


def test_normalise_is_upstreams():
    images = np.zeros((2, 224, 224, 3), np.uint8)
    images[..., 0], images[..., 1], images[..., 2] = 255, 0, 128
    x = dataset.normalise(images)
    assert x.shape == (2, 3, 224, 224) and x.dtype == np.float32 and x.flags["C_CONTIGUOUS"]
    assert x[0, 0, 0, 0] == pytest.approx((1 - 0.485) / 0.229)
    assert x[0, 1, 5, 5] == pytest.approx((0 - 0.456) / 0.224)
    assert x[1, 2, 9, 9] == pytest.approx((128 / 255 - 0.406) / 0.225)


def test_top1_agreement_by_hand():
    framework = np.array([[0.1, 0.9, 0.0], [0.8, 0.1, 0.1], [0.2, 0.3, 0.5], [0.3, 0.3, 0.4]], np.float32)
    served = framework.copy()
    served[3] = [0.5, 0.3, 0.4]                               # one image changes its top-1 class
    agreement, details = top1_agreement(framework, served, np.array([1, 0, 0, 2]))
    assert agreement == 0.75
    assert details["max_abs_logit_diff"] == pytest.approx(0.2)
    assert details["top1_framework"] == 0.75 and details["top1_served"] == 0.5


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_top1_agreement_fails_closed(bad):
    framework = np.eye(3, dtype=np.float32)
    served = framework.copy()
    served[1, 2] = bad
    agreement, details = top1_agreement(framework, served, np.arange(3))
    assert np.isnan(agreement) and "error" in details
    assert np.isnan(top1_agreement(framework, served[:2], np.arange(3))[0])     # a missing image too


def test_round_mantissa_keeps_seven_bits_exactly():
    values = torch.tensor([1.0, 1 + 2 ** -7, 1 + 2 ** -9, -3.14159, 1e-20, 0.0])
    rounded = model.round_mantissa(values)
    assert rounded[:2].tolist() == [1.0, 1 + 2 ** -7] and rounded[2] == 1.0
    assert torch.equal(rounded.to(torch.bfloat16).to(torch.float32), rounded)   # exact in bfloat16
    assert torch.equal(model.round_mantissa(rounded), rounded)
    assert abs(float(rounded[3]) + 3.14159) < 3.14159 * 2 ** -7


def test_ridge_head_separates_classes():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(3, 16))
    labels = np.repeat([7, 42, 999], 10)
    feats = centres[np.repeat(np.arange(3), 10)] + 0.1 * rng.normal(size=(30, 16))
    weight, bias = model.ridge_head(feats, labels, 1e-3)
    assert weight.shape == (1000, 16) and bias.shape == (1000,)
    assert np.array_equal((feats @ weight.T + bias).argmax(1), labels)
    assert not weight[[0, 500]].any()                        # classes without samples get zero rows


def test_seeded_weights_rebuild_from_seed_and_fitted_tensors():
    seeded = model.seeded(3)
    state = {k: v.clone() for k, v in seeded.state_dict().items()}
    state["fc.bias"] = model.round_mantissa(torch.linspace(-1, 1, 1000))
    state["layer1.0.bn1.running_var"] = model.round_mantissa(torch.linspace(0.5, 2, 64))
    for name in model.fitted_names(state):         # what fit() stores: 7 mantissa bits
        state[name] = model.round_mantissa(state[name])
    state["fc.weight"][5:] = 0                     # classes without training images: zero rows, which do not travel
    fitted = model.fitted_state(state)
    assert set(fitted) >= {"fc.weight.values", "fc.bias", "layer1.0.bn1.running_var"} and all(
        v.dtype == torch.bfloat16 for k, v in fitted.items() if k != "fc.weight.rows")
    assert fitted["fc.weight.rows"].tolist() == [0, 1, 2, 3, 4]
    rebuilt = model.from_seed(3, fitted, model.seeded_digest(state)).state_dict()
    assert all(torch.equal(rebuilt[k], state[k]) for k in state)
    with pytest.raises(RuntimeError, match="seeded convolutions differ"):
        model.from_seed(4, fitted, model.seeded_digest(state))


def test_graph_batches_cover_every_dynamic_batch():
    assert gpu_flavour.graph_batches(128) == [1, 2, 4, 8, 16, 32, 64, 128]
    assert gpu_flavour.graph_batches(32) == [1, 2, 4, 8, 16, 32]


def test_trtexec_command_is_upstreams_trt_format():
    cmd = trtexec_command(__import__("pathlib").Path("m.onnx"), __import__("pathlib").Path("m.plan"),
                          {"min": 1, "opt": 128, "max": 128})
    assert "--minShapes=INPUT__0:1x3x224x224" in cmd and "--maxShapes=INPUT__0:128x3x224x224" in cmd and "--fp16" in cmd


def test_sweeps_published_and_cpu():
    params = load_params()
    h100 = get_profile(params, "h100").perf_for("imagenet")
    online = scenarios.from_params(h100, ("offline", "online"))[1]
    assert [c for _, c in online.points] == list(range(16, 257, 16)) and {b for b, _ in online.points} == {1}
    assert h100["batch_sizes"] == [1, 2, 4, 8, 16, 32, 64, 128] and h100["max_batch_size"] == 128
    a100 = get_profile(params, "a100").perf_for("imagenet")
    assert {k: a100[k] for k in ("scenarios", "batch_sizes", "online", "max_batch_size")} == \
        {k: h100[k] for k in ("scenarios", "batch_sizes", "online", "max_batch_size")}
    assert "scaled down" in get_profile(params, "cpu").perf_for("imagenet")["note"]


def test_styles_by_scenario():
    assert style_for("resnet", "offline") == "resnet_offline" and style_for("resnet", "online") == "resnet_online"
    assert style_for("widedeep", "online") == "widedeep" and style_for("dlrm", "offline") == "dlrm"


def test_measured_rows_sit_beside_all_eight_published_tables():
    """Offline rows match by batch, online rows by concurrency (the published tables hold the other at 1)."""
    match = {"source": "003_5151f75731d8b407.txt", "model": "ResNet50 v1.5"}
    offline, online = counterparts(match, None, "small", "offline"), counterparts(match, None, "small", "online")
    assert {c.gpu for c in offline} == {c.gpu for c in online} == {"a100", "a40", "t4", "v100"}
    row = {"throughput_infer_per_s": 100.0, "latency_p50_us": 1000.0, "latency_p99_us": 2000.0}
    measured = pd.DataFrame([{"batch": 1, "concurrency": 16, **row}, {"batch": 1, "concurrency": 999, **row}])
    a100 = next(c for c in online if c.gpu == "a100")
    table, missing = side_by_side(measured, a100.frame, a100.style)
    assert table["Concurrency"].tolist() == [16] and table["published infer/s"].iloc[0] == pytest.approx(2571.2)
    assert missing == ["1 at concurrency 999"]
    a100 = next(c for c in offline if c.gpu == "a100")
    table, _ = side_by_side(pd.DataFrame([{"batch": 128, "concurrency": 1, **row}]), a100.frame, a100.style)
    assert table["published infer/s"].iloc[0] == pytest.approx(2662.4)
    assert table["published p99 us"].iloc[0] == pytest.approx(53700, rel=1e-3)


def test_torchscript_archives_do_not_depend_on_where_the_code_lives(tmp_path):
    """The same module scripted from two source paths (each in its own interpreter, as the export does): the
    debug records differ (they hold the path), the rewritten archives do not, and they load and run."""
    import os
    import subprocess
    import sys

    from repro.families.imagenet.export import without_debug_records
    source = "import torch\nclass Net(torch.nn.Module):\n    def forward(self, x):\n        return torch.relu(x) * 2\n"
    script = "import sys, torch, net_module; torch.jit.save(torch.jit.script(net_module.Net()), sys.argv[1])"
    saved = []
    for place in ("a", "b/deeper"):
        folder = tmp_path / place
        folder.mkdir(parents=True)
        (folder / "net_module.py").write_text(source)
        subprocess.run([sys.executable, "-c", script, str(folder / "model.pt")], check=True, cwd=folder,
                       env={**os.environ, "PYTHONHASHSEED": "0", "PYTHONPATH": str(folder)})
        saved.append(folder / "model.pt")
    assert saved[0].read_bytes() != saved[1].read_bytes()
    for path in saved:
        without_debug_records(path)
    assert saved[0].read_bytes() == saved[1].read_bytes()
    x = torch.tensor([-1.0, 2.0])
    assert torch.equal(torch.jit.load(str(saved[0]))(x), torch.tensor([0.0, 4.0]))
