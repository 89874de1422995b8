"""Run the converted ONNX dense submodel op by op on an array backend: numpy (CPU; tests compare it
with ONNX Runtime) or torch (the GPU dense engine of the h100 profile, FP32 or FP16, CUDA-graph
capturable). The trained weights flow through unchanged: they are the ONNX initializers.

``fuse_linear`` rewrites MatMul(x, W) -> Add(b) [-> Relu] chains into one ``Linear`` node: on CUDA
that is one cuBLASLt GEMM with the bias (and ReLU) in its epilogue instead of three passes over
the activations, and a contraction dimension that is not a multiple of 8 (DLRM's 479) is padded
with zero weights so FP16 tensor cores apply. The arithmetic is the same.

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
FUSED = {"Linear"}   # written by fuse_linear, never read from a file


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


def seeded_initializer(shape: tuple[int, ...], seed: int, index: int) -> np.ndarray:
    """Glorot-uniform weights for a graph shipped without its weights (performance runs only)."""
    rng = np.random.default_rng([seed, index])
    limit = np.sqrt(6.0 / (shape[0] + shape[-1])) if len(shape) >= 2 else 0.05
    return rng.uniform(-limit, limit, size=shape).astype(np.float32)


def load_graph(path: Path, seed: int | None = None) -> Graph:
    """The graph with its initializers; weights stored as external data that is absent (a graph
    shipped without weights) are generated from ``seed``, or it is an error naming the file."""
    import onnx
    from onnx import external_data_helper, numpy_helper
    model = onnx.load(str(path), load_external_data=False)
    constants = {}
    for index, t in enumerate(model.graph.initializer):
        if t.data_location == onnx.TensorProto.EXTERNAL:
            location = {e.key: e.value for e in t.external_data}["location"]
            if (Path(path).parent / location).exists():
                external_data_helper.load_external_data_for_tensor(t, str(Path(path).parent))
            elif seed is not None and t.data_type == onnx.TensorProto.FLOAT:
                constants[t.name] = seeded_initializer(tuple(t.dims), seed, index)
                continue
            else:
                raise FileNotFoundError(f"{path}: weights file {location} is missing (initializer {t.name}); put it "
                                        "next to the graph, or pass a seed for generated (performance-only) float "
                                        "weights")
        constants[t.name] = numpy_helper.to_array(t)
    nodes = tuple(Node(n.op_type, tuple(n.input), tuple(n.output),
                       {a.name: onnx.helper.get_attribute_value(a) for a in n.attribute}) for n in model.graph.node)
    unsupported = sorted({n.op for n in nodes} - SUPPORTED)
    if unsupported:
        raise ValueError(f"{path}: ONNX ops {unsupported} are not supported by repro.onnx_engine")
    inputs = tuple(i.name for i in model.graph.input if i.name not in constants)
    return Graph(nodes, constants, inputs, tuple(o.name for o in model.graph.output))


def fuse_linear(graph: Graph) -> Graph:
    """MatMul with a constant 2-D weight, followed by Add of a constant bias (and optionally Relu),
    each intermediate used once, becomes Linear(x, W, b; relu)."""
    uses: dict[str, int] = {}
    for node in graph.nodes:
        for name in node.inputs:
            uses[name] = uses.get(name, 0) + 1
    nodes, i, out = list(graph.nodes), 0, []
    while i < len(nodes):
        n = nodes[i]
        nxt = nodes[i + 1] if i + 1 < len(nodes) else None
        if (n.op == "MatMul" and n.inputs[1] in graph.constants and graph.constants[n.inputs[1]].ndim == 2
                and nxt is not None and nxt.op == "Add" and n.outputs[0] in nxt.inputs and uses[n.outputs[0]] == 1):
            bias = [x for x in nxt.inputs if x != n.outputs[0]]
            if len(bias) == 1 and bias[0] in graph.constants and graph.constants[bias[0]].ndim <= 1:
                relu = i + 2 < len(nodes) and nodes[i + 2].op == "Relu" and nodes[i + 2].inputs[0] == nxt.outputs[0] \
                    and uses[nxt.outputs[0]] == 1
                last = nodes[i + 2] if relu else nxt
                out.append(Node("Linear", (n.inputs[0], n.inputs[1], bias[0]), last.outputs, {"relu": relu}))
                i += 3 if relu else 2
                continue
        out.append(n)
        i += 1
    return Graph(tuple(out), graph.constants, graph.inputs, graph.outputs)


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

    def linear_weights(self, weight: np.ndarray, bias: np.ndarray):
        return self.tensor(weight), self.tensor(bias)

    @staticmethod
    def linear(x, weights, relu: bool):
        y = x @ weights[0] + weights[1]
        return np.maximum(y, 0) if relu else y


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

    def linear_weights(self, weight: np.ndarray, bias: np.ndarray):
        """[K, N] weight as a transposed [N, K'] view for addmm, K' = K padded to a multiple of 8."""
        k, n = weight.shape
        padded = np.zeros((-(-k // 8) * 8, n), dtype=weight.dtype)
        padded[:k] = weight
        return self.tensor(padded).t(), self.tensor(np.broadcast_to(bias, (n,))), k

    def linear(self, x, weights, relu: bool):
        w_t, bias, k = weights
        if w_t.shape[1] != k:
            x = self.torch.nn.functional.pad(x, (0, w_t.shape[1] - k))
        if relu:
            return self.torch._addmm_activation(bias, x, w_t.t(), use_gelu=False) if x.is_cuda else \
                self.torch.relu(self.torch.addmm(bias, x, w_t.t()))
        return self.torch.addmm(bias, x, w_t.t())


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
        linear = {n.inputs[1]: n.inputs[2] for n in graph.nodes if n.op == "Linear"}
        self.tensors = {name: backend.tensor(value) for name, value in graph.constants.items()
                        if name not in linear and name not in linear.values()}
        self.linear = {w: backend.linear_weights(graph.constants[w], graph.constants[b]) for w, b in linear.items()}

    def trace_matmuls(self, **feeds) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
        """Operand shapes of every plain MatMul in one run (for FLOP counts)."""
        self._trace: list | None = []
        try:
            self(**feeds)
            return self._trace
        finally:
            self._trace = None

    def __call__(self, **feeds):
        b, consts, env = self.backend, self.graph.constants, {**self.tensors, **feeds}
        trace = getattr(self, "_trace", None)
        for node in self.graph.nodes:
            x = [env.get(name) for name in node.inputs]
            op = node.op
            if op == "Linear":
                y = b.linear(x[0], self.linear[node.inputs[1]], node.attrs["relu"])
            elif op == "MatMul":
                y = x[0] @ x[1]
                if trace is not None:
                    trace.append((tuple(x[0].shape), tuple(x[1].shape)))
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
