"""Run the converted ONNX dense submodel op by op on an array backend: numpy (CPU; tests compare it
with ONNX Runtime) or torch (the GPU dense engine of the h100 profile, FP32 or FP16, CUDA-graph
capturable). The trained weights flow through unchanged: they are the ONNX initializers.

``fuse_linear`` rewrites MatMul(x, W) -> Add(b) [-> Relu] chains into one ``Linear`` node: on CUDA
that is one cuBLASLt GEMM with the bias (and ReLU) in its epilogue instead of three passes over
the activations, and a contraction dimension that is not a multiple of 8 (DLRM's 479) is padded
with zero weights so FP16 tensor cores apply. The arithmetic is the same.

Only the ops tf2onnx emits for the DLRM/DCNv2 dense parts and the whole Wide & Deep model are
implemented; any other op is an error that names it. Floating-point casts go to the engine's precision.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

SUPPORTED = {"MatMul", "Add", "Mul", "Relu", "Sigmoid", "Concat", "Transpose", "Reshape", "Unsqueeze", "Slice",
             "Gather", "Cast", "Min", "Max", "ReduceSum"}
FLOAT_TYPES = {1, 10, 11, 16}   # ONNX TensorProto FLOAT, FLOAT16, DOUBLE, BFLOAT16: cast to the engine's precision
FUSED = {"Linear", "DotInteraction"}   # written by fuse_linear / fuse_dot_interaction, never read from a file


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
        raise ValueError(f"{path}: ONNX ops {unsupported} are not supported by repro.engines.onnx_engine")
    inputs = tuple(i.name for i in model.graph.input if i.name not in constants)
    return Graph(nodes, constants, inputs, tuple(o.name for o in model.graph.output))


def fuse_linear(graph: Graph) -> Graph:
    """MatMul with a constant 2-D weight, followed by Add of a constant bias (and optionally Relu),
    each intermediate used once, becomes Linear(x, W, b; relu), placed where the chain's last node was
    (tf2onnx does not always emit the chain's nodes next to each other)."""
    consumers, constants = _consumers(graph), dict(graph.constants)
    replaced: dict[int, Node] = {}     # id of the chain's last node -> the Linear node
    dropped: set[int] = set()
    for n in graph.nodes:
        if n.op != "MatMul" or n.inputs[1] not in constants or constants[n.inputs[1]].ndim != 2:
            continue
        add, chain = _only(consumers, n.outputs[0], "Add"), [n]
        if add is not None:
            bias = [x for x in add.inputs if x != n.outputs[0]]
            if len(bias) != 1 or bias[0] not in constants or constants[bias[0]].ndim > 1:
                continue
            bias_name, chain = bias[0], [n, add]
        else:   # tf2onnx folds away a zero bias: MatMul -> Relu is a Linear with a zero bias
            bias_name = f"{n.outputs[0]}/zero_bias"
            constants[bias_name] = np.zeros(constants[n.inputs[1]].shape[1], constants[n.inputs[1]].dtype)
        relu = _only(consumers, chain[-1].outputs[0], "Relu")
        if add is None and relu is None:
            del constants[bias_name]
            continue
        last = relu or chain[-1]
        replaced[id(last)] = Node("Linear", (n.inputs[0], n.inputs[1], bias_name), last.outputs, {"relu": relu is not None})
        dropped |= {id(x) for x in chain}
    nodes = tuple(replaced.get(id(n), n) for n in graph.nodes if id(n) not in dropped or id(n) in replaced)
    return Graph(nodes, constants, graph.inputs, graph.outputs)


def _consumers(graph: Graph) -> dict[str, list[Node]]:
    found: dict[str, list[Node]] = {}
    for node in graph.nodes:
        for name in node.inputs:
            found.setdefault(name, []).append(node)
    return found


def _only(consumers: dict[str, list[Node]], name: str, op: str) -> Node | None:
    nodes = consumers.get(name, [])
    return nodes[0] if len(nodes) == 1 and nodes[0].op == op else None


def _is_identity_slice(graph: Graph, node: Node) -> bool:
    probe = np.zeros((3, 1, 5))
    params = [graph.constants.get(n) if n else None for n in node.inputs[1:]] + [None] * (5 - len(node.inputs))
    if any(p is None for p in params[:3]):
        return False
    return probe[slice_index(probe.shape, *params[:4])].shape == probe.shape


def _dot_interaction_at(graph: Graph, matmul: Node, producer: dict[str, Node],
                        consumers: dict[str, list[Node]]) -> tuple[list[Node], Node] | None:
    """The nodes of one DLRM dot interaction ending at ``matmul``, and the node replacing them."""
    z, zt = matmul.inputs
    transpose, stack = producer.get(zt), producer.get(z)
    if transpose is None or transpose.op != "Transpose" or transpose.inputs[0] != z \
            or list(transpose.attrs.get("perm", [])) != [0, 2, 1]:
        return None
    if stack is None or stack.op != "Concat" or stack.attrs.get("axis") != 1 or len(stack.inputs) != 2 \
            or len(consumers.get(z, [])) != 2:
        return None
    first, lookups = stack.inputs
    chain, node = [], producer.get(first)
    if node is not None and node.op == "Slice" and _is_identity_slice(graph, node) and len(consumers[first]) == 1:
        chain.append(node)
        node = producer.get(node.inputs[0])
    if node is None or node.op != "Unsqueeze" or len(consumers[node.outputs[0]]) != 1 \
            or graph.constants.get(node.inputs[1], np.array([])).tolist() != [1]:
        return None
    chain.append(node)
    bottom = node.inputs[0]
    reshape = _only(consumers, matmul.outputs[0], "Reshape")
    if reshape is None or len(graph.constants.get(reshape.inputs[1], ())) != 2:
        return None
    gather = _only(consumers, reshape.outputs[0], "Gather")
    if not gather or gather.attrs.get("axis", 0) != 1 or gather.inputs[1] not in graph.constants:
        return None
    joined = _only(consumers, gather.outputs[0], "Concat")
    if joined is None or joined.attrs.get("axis") != 1 or sorted(joined.inputs) != sorted([bottom, gather.outputs[0]]):
        return None
    following = consumers.get(joined.outputs[0], [])
    pad_to = 8 if following and all(n.op == "Linear" for n in following) else 1
    fused = Node("DotInteraction", (bottom, lookups), joined.outputs,
                 {"pairs": graph.constants[gather.inputs[1]].reshape(-1).tolist(),
                  "bottom_first": joined.inputs[0] == bottom, "pad_to": pad_to})
    return [*chain, stack, transpose, matmul, reshape, gather, joined], fused


def fuse_dot_interaction(graph: Graph) -> Graph:
    """DLRM's dot interaction as tf2onnx writes it (Unsqueeze [-> Slice] -> Concat with the lookups
    -> Transpose -> MatMul -> Reshape -> Gather of the kept pairs -> Concat with the bottom output)
    becomes one ``DotInteraction`` node. When only Linear nodes read it, its output may carry zero
    columns up to a multiple of 8 (their weights are padded the same way)."""
    producer = {o: n for n in graph.nodes for o in n.outputs}
    consumers = _consumers(graph)
    removed, replacement = set(), {}
    for node in graph.nodes:
        if node.op == "MatMul" and node.inputs[1] not in graph.constants:
            found = _dot_interaction_at(graph, node, producer, consumers)
            if found:
                nodes, fused = found
                removed.update(id(n) for n in nodes)
                replacement[id(nodes[-1])] = fused
    nodes = tuple(replacement.get(id(n), n) for n in graph.nodes if id(n) not in removed or id(n) in replacement)
    return Graph(nodes, graph.constants, graph.inputs, graph.outputs)


def optimize(graph: Graph) -> Graph:
    """The rewrites the GPU engine runs with: Linear fusion, then the fused dot interaction."""
    return fuse_dot_interaction(fuse_linear(graph))


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
    minimum, maximum = staticmethod(np.minimum), staticmethod(np.maximum)
    reduce_sum = staticmethod(lambda a, axes, keepdims: np.sum(a, axis=tuple(axes), keepdims=keepdims))

    def cast(self, a, to_float: bool):
        return a.astype(self.dtype) if to_float else a.astype(np.int64)

    def linear_weights(self, weight: np.ndarray, bias: np.ndarray):
        return self.tensor(weight), self.tensor(bias)

    @staticmethod
    def linear(x, weights, relu: bool):
        y = x @ weights[0] + weights[1]
        return np.maximum(y, 0) if relu else y

    @staticmethod
    def interaction(attrs: dict):
        """DotInteraction without padding (the numpy Linear weights are not padded)."""
        pairs = np.asarray(attrs["pairs"])

        def run(bottom, lookups):
            z = np.concatenate([bottom[:, None, :], lookups], axis=1)
            dots = (z @ np.transpose(z, (0, 2, 1))).reshape(z.shape[0], -1)[:, pairs]
            return np.concatenate([bottom, dots] if attrs["bottom_first"] else [dots, bottom], axis=1)
        return run


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

    def minimum(self, a, b):
        return self.torch.minimum(a, b)

    def maximum(self, a, b):
        return self.torch.maximum(a, b)

    def reduce_sum(self, a, axes, keepdims: bool):
        return self.torch.sum(a, dim=tuple(axes), keepdim=keepdims)

    def cast(self, a, to_float: bool):
        return a.to(self.dtype) if to_float else a.long()

    def linear_weights(self, weight: np.ndarray, bias: np.ndarray):
        """[K, N] weight as a transposed [N, K'] view for addmm, K' = K padded to a multiple of 8."""
        k, n = weight.shape
        padded = np.zeros((-(-k // 8) * 8, n), dtype=weight.dtype)
        padded[:k] = weight
        return self.tensor(padded).t(), self.tensor(np.broadcast_to(bias, (n,))), k

    def linear(self, x, weights, relu: bool):
        w_t, bias, _ = weights
        if x.shape[-1] != w_t.shape[1]:        # a DotInteraction output may already carry the padding
            x = self.torch.nn.functional.pad(x, (0, w_t.shape[1] - x.shape[-1]))
        if relu:
            return self.torch._addmm_activation(bias, x, w_t.t(), use_gelu=False) if x.is_cuda else \
                self.torch.relu(self.torch.addmm(bias, x, w_t.t()))
        return self.torch.addmm(bias, x, w_t.t())

    def interaction(self, attrs: dict):
        from repro.engines.gpu_kernels import DotInteraction
        return DotInteraction(attrs["pairs"], attrs["bottom_first"], attrs["pad_to"], self.device)


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
        self.interactions = {n.outputs[0]: backend.interaction(n.attrs) for n in graph.nodes
                             if n.op == "DotInteraction"}

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
            elif op == "DotInteraction":
                y = self.interactions[node.outputs[0]](x[0], x[1])
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
            elif op == "Cast":
                y = b.cast(x[0], node.attrs["to"] in FLOAT_TYPES)
            elif op == "Min":
                y = b.minimum(x[0], x[1])
            elif op == "Max":
                y = b.maximum(x[0], x[1])
            elif op == "ReduceSum":
                y = b.reduce_sum(x[0], consts[node.inputs[1]].tolist(), bool(node.attrs.get("keepdims", 1)))
            else:  # Gather
                y = b.gather(x[0], x[1], node.attrs.get("axis", 0))
            env[node.outputs[0]] = y
        return [env[name] for name in self.graph.outputs]
