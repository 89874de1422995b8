"""Run the converted ONNX dense submodel op by op on an array backend: numpy (CPU; tests compare it
with ONNX Runtime) or torch (the GPU dense engine of the h100 profile, FP32 or FP16, CUDA-graph
capturable). The trained weights flow through unchanged: they are the ONNX initializers.

Only the ops tf2onnx emits for the DLRM/DCNv2 dense parts are implemented; any other op is an error
that names it.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED = {"MatMul", "Add", "Mul", "Relu", "Sigmoid", "Concat", "Transpose", "Reshape", "Unsqueeze", "Slice",
             "Gather"}


@dataclass(frozen=True)
class Node:
    op: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    attrs: dict[str, Any]


@dataclass(frozen=True)
class Graph:
    nodes: tuple[Node, ...]
    constants: dict[str, np.ndarray]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


def load_graph(path: Path) -> Graph:
    import onnx
    from onnx import numpy_helper
    model = onnx.load(str(path))
    nodes = tuple(Node(n.op_type, tuple(n.input), tuple(n.output),
                       {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}) for n in model.graph.node)
    unsupported = sorted({n.op for n in nodes} - SUPPORTED)
    if unsupported:
        raise ValueError(f"{path}: ONNX ops {unsupported} are not supported by repro.onnx_engine")
    constants = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    inputs = tuple(i.name for i in model.graph.input if i.name not in constants)
    return Graph(nodes, constants, inputs, tuple(o.name for o in model.graph.output))


class NumpyBackend:
    def __init__(self, dtype: str = "float32"):
        self.dtype = np.dtype(dtype)

    def tensor(self, array: np.ndarray):
        return array.astype(self.dtype) if array.dtype.kind == "f" else array.astype(np.int64)

    relu = staticmethod(lambda a: np.maximum(a, 0))
    sigmoid = staticmethod(lambda a: 1 / (1 + np.exp(-a)))
    concat = staticmethod(lambda xs, axis: np.concatenate(xs, axis=axis))
    transpose = staticmethod(lambda a, perm: np.transpose(a, perm))
    gather = staticmethod(lambda a, idx, axis: np.take(a, idx, axis=axis))
    unsqueeze = staticmethod(lambda a, axes: np.expand_dims(a, tuple(axes)))


class TorchBackend:
    def __init__(self, dtype: str = "float32", device: str = "cuda"):
        import torch
        self.torch, self.device = torch, device
        self.dtype = {"float32": torch.float32, "float16": torch.float16}[dtype]

    def tensor(self, array: np.ndarray):
        t = self.torch.from_numpy(np.array(array, copy=True)).to(self.device)  # initializers are read-only
        return t.to(self.dtype) if t.is_floating_point() else t.long()

    def relu(self, a):
        return self.torch.relu(a)

    def sigmoid(self, a):
        return self.torch.sigmoid(a)

    def concat(self, xs, axis):
        return self.torch.cat(xs, dim=axis)

    def transpose(self, a, perm):
        return a.permute(*perm)

    def gather(self, a, idx, axis):
        return self.torch.index_select(a, axis, idx.reshape(-1)).reshape(*a.shape[:axis], *idx.shape,
                                                                          *a.shape[axis + 1:])

    def unsqueeze(self, a, axes):
        for axis in sorted(axes):
            a = a.unsqueeze(axis)
        return a


def slice_index(shape: tuple[int, ...], starts, ends, axes, steps) -> tuple:
    index = [slice(None)] * len(shape)
    steps = steps if steps is not None else [1] * len(starts)
    for start, end, axis, step in zip(starts, ends, axes, steps):
        index[int(axis)] = slice(int(start), min(int(end), shape[int(axis)]) if int(end) >= 0 else int(end), int(step))
    return tuple(index)


def reshape_target(shape: tuple[int, ...], target: np.ndarray) -> list[int]:
    return [shape[i] if int(d) == 0 else int(d) for i, d in enumerate(target)]


class Engine:
    """The graph bound to a backend: constants converted once, then ``__call__`` per batch."""

    def __init__(self, graph: Graph, backend):
        self.graph, self.backend = graph, backend
        self.tensors = {name: backend.tensor(value) for name, value in graph.constants.items()}

    def __call__(self, **feeds):
        b, consts, env = self.backend, self.graph.constants, {**self.tensors, **feeds}
        for node in self.graph.nodes:
            x = [env.get(name) for name in node.inputs]
            op = node.op
            if op == "MatMul":
                y = x[0] @ x[1]
            elif op == "Add":
                y = x[0] + x[1]
            elif op == "Mul":
                y = x[0] * x[1]
            elif op == "Relu":
                y = b.relu(x[0])
            elif op == "Sigmoid":
                y = b.sigmoid(x[0])
            elif op == "Concat":
                y = b.concat(x, node.attrs["axis"])
            elif op == "Transpose":
                y = b.transpose(x[0], node.attrs["perm"])
            elif op == "Reshape":
                y = x[0].reshape(reshape_target(tuple(x[0].shape), consts[node.inputs[1]]))
            elif op == "Unsqueeze":
                y = b.unsqueeze(x[0], consts[node.inputs[1]].tolist())
            elif op == "Slice":
                params = [consts[n] if n else None for n in node.inputs[1:]] + [None] * (5 - len(node.inputs))
                y = x[0][slice_index(tuple(x[0].shape), *params[:4])]
            else:  # Gather
                y = b.gather(x[0], x[1], node.attrs.get("axis", 0))
            env[node.outputs[0]] = y
        return [env[name] for name in self.graph.outputs]
