"""The h100 engines' Triton-language kernels (repro.engines.gpu_kernels), run on CPU through Triton's
interpreter, against the PyTorch ops they replace; and the graph rewrite that puts DLRM's dot
interaction into one node, checked against ONNX Runtime."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

torch = pytest.importorskip("torch", reason="PyTorch (CPU build) is part of requirements.lock")
pytest.importorskip("triton", reason="triton is part of requirements.lock")

from repro.engines import gpu_kernels as gk  # noqa: E402
from repro.engines.onnx_engine import Engine, NumpyBackend, TorchBackend, fuse_linear, load_graph, optimize  # noqa: E402

TABLES, DIM = 3, 16
PAIRS = [4, 8, 9, 12, 13, 14]          # the strictly lower triangle of the 4 x 4 products, as tf2onnx writes it


def test_the_kernels_run_here():
    assert gk.use_kernels(torch.zeros(1)), "TRITON_INTERPRET=1 (tests/conftest.py) lets the kernels run on CPU"


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_gather_kernel_matches_index_select(dtype):
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(300, DIM, generator=gen).to(dtype)
    ids = torch.randint(0, 100, (70, TABLES), generator=gen, dtype=torch.int32)   # not a multiple of the block
    offsets = torch.tensor([0, 100, 200], dtype=torch.int32)
    assert torch.equal(gk.gather_rows(table, ids, offsets), gk.gather_rows_reference(table, ids, offsets))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
def test_cached_gather_reads_hits_from_the_cache_and_misses_from_the_table(dtype):
    gen = torch.Generator().manual_seed(2)
    table = torch.randn(300, DIM, generator=gen).to(dtype)
    ids = torch.randint(0, 100, (70, TABLES), generator=gen, dtype=torch.int32)
    offsets = torch.tensor([0, 100, 200], dtype=torch.int32)
    cached_rows = torch.arange(0, 300, 3)
    slot_of = torch.full((300,), -1, dtype=torch.int32)
    slot_of[cached_rows] = torch.arange(cached_rows.numel(), dtype=torch.int32)
    cache = table.index_select(0, cached_rows)
    want = gk.gather_rows_reference(table, ids, offsets)
    assert torch.equal(gk.cached_gather(cache, table, slot_of, ids, offsets), want)
    assert torch.equal(gk.cached_gather_reference(cache, table, slot_of, ids, offsets), want)
    poisoned = table.clone()
    poisoned[cached_rows] = float("nan")          # hits never read the table
    assert torch.equal(gk.cached_gather(cache, poisoned, slot_of, ids, offsets), want)


@pytest.mark.parametrize("bottom_first", [False, True])
@pytest.mark.parametrize("pad_to", [1, 8])
def test_interaction_kernel_matches_the_op_by_op_reference(bottom_first, pad_to):
    gen = torch.Generator().manual_seed(1)
    bottom, lookups = torch.randn(5, DIM, generator=gen), torch.randn(5, TABLES, DIM, generator=gen)
    got = gk.DotInteraction(PAIRS, bottom_first, pad_to, "cpu")(bottom, lookups)
    width = -(-(len(PAIRS) + DIM) // pad_to) * pad_to
    want = gk.interaction_reference(bottom, lookups, torch.tensor(PAIRS), width, bottom_first)
    assert got.shape == (5, width) and torch.allclose(got, want, atol=1e-4)
    assert not got[:, len(PAIRS) + DIM:].any()


def test_interaction_rejects_pairs_outside_the_products():
    with pytest.raises(ValueError, match="pair index 99"):
        gk.DotInteraction([99], False, 1, "cpu")(torch.zeros(2, DIM), torch.zeros(2, TABLES, DIM))


def interaction_graph(path, rng):
    """tf2onnx's shape of DLRM's dense part, small: bottom Linear+Relu, Unsqueeze -> identity Slice ->
    Concat with the lookups -> Transpose -> MatMul -> Reshape -> Gather(pairs) -> Concat(bottom) -> top."""
    consts = {"w1": rng.standard_normal((13, DIM)), "b1": rng.standard_normal(DIM),
              "w2": rng.standard_normal((len(PAIRS) + DIM, 1)) * 0.1, "b2": np.zeros(1)}
    inits = [numpy_helper.from_array(v.astype(np.float32), k) for k, v in consts.items()]
    inits += [numpy_helper.from_array(np.array(v, dtype=t), k) for k, v, t in (
        ("axes", [1], np.int64), ("begin", [0, 0, 0], np.int32),
        ("slice_axes", [0, 1, 2], np.int32), ("shape", [-1, (TABLES + 1) ** 2], np.int64), ("pairs", PAIRS, np.int32))]
    end_all = numpy_helper.from_array(np.array([2**31 - 1] * 3, np.int32), "end_all")
    nodes = [helper.make_node("MatMul", ["numerical_features", "w1"], ["m1"]),
             helper.make_node("Add", ["m1", "b1"], ["a1"]), helper.make_node("Relu", ["a1"], ["bottom"]),
             helper.make_node("Unsqueeze", ["bottom", "axes"], ["u"]),
             helper.make_node("Slice", ["u", "begin", "end_all", "slice_axes"], ["s"]),
             helper.make_node("Concat", ["s", "lookup_vectors"], ["z"], axis=1),
             helper.make_node("Transpose", ["z"], ["zt"], perm=[0, 2, 1]),
             helper.make_node("MatMul", ["z", "zt"], ["dots"]),
             helper.make_node("Reshape", ["dots", "shape"], ["flat"]),
             helper.make_node("Gather", ["flat", "pairs"], ["kept"], axis=1),
             helper.make_node("Concat", ["kept", "bottom"], ["joined"], axis=1),
             helper.make_node("MatMul", ["joined", "w2"], ["m2"]), helper.make_node("Add", ["m2", "b2"], ["a2"]),
             helper.make_node("Sigmoid", ["a2"], ["output"])]
    graph = helper.make_graph(nodes, "dense", [
        helper.make_tensor_value_info("numerical_features", TensorProto.FLOAT, ["B", 13]),
        helper.make_tensor_value_info("lookup_vectors", TensorProto.FLOAT, ["B", TABLES, DIM])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["B", 1])], inits + [end_all])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8), str(path))


def test_dot_interaction_rewrite_matches_onnxruntime(tmp_path):
    path = tmp_path / "dense.onnx"
    interaction_graph(path, np.random.default_rng(0))
    rng = np.random.default_rng(1)
    feeds = {"numerical_features": rng.random((9, 13), dtype=np.float32),
             "lookup_vectors": rng.random((9, TABLES, DIM), dtype=np.float32) - 0.5}
    want = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    graph = optimize(load_graph(path))
    assert [n.op for n in graph.nodes] == ["Linear", "DotInteraction", "Linear", "Sigmoid"]
    node = graph.nodes[1]
    assert node.attrs == {"pairs": PAIRS, "bottom_first": False, "pad_to": 8}
    assert np.abs(Engine(graph, NumpyBackend())(**feeds)[0] - want).max() < 1e-5
    engine = Engine(graph, TorchBackend("float32", device="cpu"))      # the kernel, in the interpreter
    got = engine(**{k: engine.backend.tensor(v) for k, v in feeds.items()})[0].numpy()
    assert np.abs(got - want).max() < 1e-4


def test_rewrite_leaves_other_graphs_alone(tmp_path):
    path = tmp_path / "dense.onnx"
    interaction_graph(path, np.random.default_rng(0))
    model = onnx.load(str(path))
    model.graph.node[9].attribute[0].i = 0        # Gather on axis 0: not the interaction pattern
    onnx.save(model, str(path))
    graph = load_graph(path)
    assert [n.op for n in optimize(graph).nodes] == [n.op for n in fuse_linear(graph).nodes]
