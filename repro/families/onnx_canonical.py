"""Byte-stable ONNX from tf2onnx. TensorFlow's graph optimisation names and orders nodes differently from one
run to the next, and keeps a different one of several identical constants (the same model, other bytes).
``canonical`` rewrites a graph into one form that depends only on what it computes: each initializer named by
its content, each node by a hash of its op, attributes and inputs (identical computations merged), the nodes in
a topological order sorted by those hashes. Graph inputs and outputs keep their names."""
from __future__ import annotations

import hashlib

import onnx


def _digest(*parts: bytes | str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def canonical(model: onnx.ModelProto) -> onnx.ModelProto:
    graph = model.graph
    kept = {i.name for i in graph.input} | {o.name for o in graph.output}
    renamed: dict[str, str] = {}
    initializers: dict[str, onnx.TensorProto] = {}
    for t in graph.initializer:
        content = _digest(str(t.data_type), ",".join(map(str, t.dims)), onnx.numpy_helper.to_array(t).tobytes())
        renamed[t.name] = f"const_{content}"
        if renamed[t.name] not in initializers:
            copy = onnx.TensorProto()
            copy.CopyFrom(t)
            copy.name = renamed[t.name]
            initializers[copy.name] = copy
    signature: dict[str, str] = {name: name for name in kept if name not in renamed}
    signature.update(renamed)
    producers = {out: node for node in graph.node for out in node.output}
    nodes: dict[str, onnx.NodeProto] = {}
    depth: dict[str, int] = {}

    def visit(node: onnx.NodeProto) -> str:
        key = id(node)
        if key in visited:
            return visited[key]
        inputs = []
        for name in node.input:
            if name and name not in signature:
                visit(producers[name])
            inputs.append(signature.get(name, ""))
        attrs = [a.SerializeToString(deterministic=True) for a in sorted(node.attribute, key=lambda a: a.name)]
        sig = _digest(node.op_type, node.domain, *inputs, *attrs)
        for k, out in enumerate(node.output):
            signature[out] = out if out in kept else f"t_{sig}_{k}"
        if sig not in nodes:
            new = onnx.NodeProto()
            new.CopyFrom(node)
            new.name = f"n_{sig}"
            new.input[:] = inputs
            new.output[:] = [signature[o] for o in node.output]
            nodes[sig] = new
            depth[sig] = 1 + max([depth.get(producer_sig.get(i, ""), 0) for i in inputs], default=0)
            for o in new.output:
                producer_sig[o] = sig
        visited[key] = sig
        return sig

    visited: dict[int, str] = {}
    producer_sig: dict[str, str] = {}
    for out in graph.output:
        visit(producers[out.name])
    order = sorted(nodes, key=lambda s: (depth[s], s))
    del graph.node[:]
    graph.node.extend(nodes[s] for s in order)
    del graph.initializer[:]
    graph.initializer.extend(initializers[name] for name in sorted(initializers))
    del graph.value_info[:]
    return model
