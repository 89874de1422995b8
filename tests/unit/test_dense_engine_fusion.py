"""The dense engine's Linear fusion and weightless graphs, on a small tf2onnx-shaped graph, checked
against ONNX Runtime with the numpy and the PyTorch (CPU) backends."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from repro.engines.onnx_engine import Engine, NumpyBackend, fuse_linear, load_graph
from repro.report.physical_limits import Hardware, limits, mlp_flops_per_sample


def small_dense(path, rng):
    """numerical [B,13] -> Linear+Relu(13->16) ; lookups [B,26,128] -> flatten ; concat -> Linear(16+3328 -> 1)
    -> Sigmoid. K = 13 exercises the padding to a multiple of 8."""
    w1, b1 = rng.standard_normal((13, 16)).astype(np.float32), rng.standard_normal(16).astype(np.float32)
    w2, b2 = (rng.standard_normal((16 + 26 * 128, 1)) * 0.01).astype(np.float32), np.zeros(1, np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"),
                                                        (np.array([0, -1], np.int64), "shape"))]
    nodes = [helper.make_node("MatMul", ["numerical_features", "w1"], ["m1"]),
             helper.make_node("Add", ["m1", "b1"], ["a1"]), helper.make_node("Relu", ["a1"], ["r1"]),
             helper.make_node("Reshape", ["lookup_vectors", "shape"], ["flat"]),
             helper.make_node("Concat", ["r1", "flat"], ["cat"], axis=1),
             helper.make_node("MatMul", ["cat", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["a2"]),
             helper.make_node("Sigmoid", ["a2"], ["output"])]
    graph = helper.make_graph(nodes, "dense", [
        helper.make_tensor_value_info("numerical_features", TensorProto.FLOAT, ["B", 13]),
        helper.make_tensor_value_info("lookup_vectors", TensorProto.FLOAT, ["B", 26, 128])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["B", 1])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))


@pytest.fixture
def dense(tmp_path):
    path = tmp_path / "dense.onnx"
    small_dense(path, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    feeds = {"numerical_features": rng.random((32, 13), dtype=np.float32),
             "lookup_vectors": rng.random((32, 26, 128), dtype=np.float32) - 0.5}
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    return path, feeds, want


def test_fuse_linear_rewrites_matmul_add_relu(dense):
    path, _, _ = dense
    ops = [n.op for n in fuse_linear(load_graph(path)).nodes]
    assert ops == ["Linear", "Reshape", "Concat", "Linear", "Sigmoid"]


def test_fused_graph_matches_onnxruntime_on_numpy_and_torch(dense):
    path, feeds, want = dense
    graph = fuse_linear(load_graph(path))
    assert np.abs(Engine(graph, NumpyBackend())(**feeds)[0] - want).max() < 1e-5
    torch = pytest.importorskip("torch")
    from repro.engines.onnx_engine import TorchBackend
    engine = Engine(graph, TorchBackend("float32", device="cpu"))
    got = engine(**{k: engine.backend.tensor(v) for k, v in feeds.items()})[0].numpy()
    assert np.abs(got - want).max() < 1e-5 and isinstance(engine.linear[graph.nodes[0].inputs[1]][0], torch.Tensor)


def test_graph_without_weights_needs_a_seed(tmp_path, dense):
    path, feeds, _ = dense
    light = tmp_path / "light" / "dense.onnx"
    light.parent.mkdir()
    onnx.save_model(onnx.load(str(path)), str(light), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=100)
    (light.parent / "weights.bin").unlink()
    with pytest.raises(FileNotFoundError, match="weights.bin is missing"):
        load_graph(light)
    a, b = load_graph(light, seed=7), load_graph(light, seed=7)
    assert all(np.array_equal(a.constants[k], b.constants[k]) for k in a.constants)
    assert Engine(fuse_linear(a), NumpyBackend())(**feeds)[0].shape == (32, 1)


def test_flops_and_limits(dense):
    path, _, _ = dense
    flops = mlp_flops_per_sample(fuse_linear(load_graph(path)))
    assert flops == 2 * 13 * 16 + 2 * (16 + 26 * 128) * 1
    hw = Hardware(host_link_gbps=64, memory_gbps=3350, fp16_tflops=989, fp32_tflops=67, tf32_tflops=495)
    lim = limits([1000] * 26, "fp16", "fused", 60, flops, hw)
    assert lim["bound_by"] == "gather" and lim["gather_bytes"] == 2 * 26 * 128 * 2
    placed = limits([10, 2**31 // 512] + [10] * 24, "fp32", "placement", 0.5, 1e6, hw)
    assert placed["host_link_bytes"] == 160 + 128 * 4          # one host-resident table read over the link
