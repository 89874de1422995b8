"""tf2onnx's W&D graph comes out with other names, another node order and another one of several identical
constants on every run; the canonical form is the same bytes for the same computation."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

from repro.families.onnx_canonical import canonical


def graph(names: dict[str, str], swap: bool) -> onnx.ModelProto:
    one_a = numpy_helper.from_array(np.array([1], np.int32), names["c1"])
    one_b = numpy_helper.from_array(np.array([1], np.int32), names["c2"])      # the same constant twice
    add = helper.make_node("Add", ["x", names["c1"]], [names["t1"]], name=names["n1"])
    mul = helper.make_node("Mul", ["y", names["c2"]], [names["t2"]], name=names["n2"])
    out = helper.make_node("Add", [names["t1"], names["t2"]], ["out"], name=names["n3"])
    nodes = [mul, add, out] if swap else [add, mul, out]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, TensorProto.INT32, [None, 1]) for n in "xy"],
                          [helper.make_tensor_value_info("out", TensorProto.INT32, [None, 1])], [one_a, one_b])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def test_same_computation_same_bytes_and_same_results():
    a = graph(dict(c1="Minimum_8/y:0", c2="Minimum_10/y:0", t1="add:0", t2="mul:0", n1="add", n2="mul", n3="add_1"), False)
    b = graph(dict(c1="Minimum_10/y:0", c2="Minimum_3/y:0", t1="add_7:0", t2="mul_2:0", n1="add_7", n2="mul_2",
                   n3="add_9"), True)
    assert a.SerializeToString() != b.SerializeToString()
    ca, cb = canonical(a), canonical(b)
    assert ca.SerializeToString(deterministic=True) == cb.SerializeToString(deterministic=True)
    assert len(ca.graph.initializer) == 1                                       # identical constants merged
    onnx.checker.check_model(ca)
    feeds = {"x": np.array([[2], [3]], np.int32), "y": np.array([[5], [7]], np.int32)}
    want = ort.InferenceSession(a.SerializeToString()).run(None, feeds)[0]
    assert (ort.InferenceSession(ca.SerializeToString()).run(None, feeds)[0] == want).all()
