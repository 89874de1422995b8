"""Export Wide & Deep as upstream serves it: a TF SavedModel with the 29 named inputs and the output
``wide_deep_model``, and ONNX via tf2onnx (the source of the TensorRT engine and of the cpu flavour's
ONNX Runtime engine), each checked against TensorFlow on the same samples."""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import tensorflow as tf

from repro.families.outbrain import model
from repro.families.outbrain.features import INPUTS, OUTPUT, input_width
from repro.families.tf_common import pin_fingerprint_uuid


def input_signature() -> list[tf.TensorSpec]:
    return [tf.TensorSpec([None, input_width(name)], tf.float32 if i < 13 else tf.int32, name)
            for i, name in enumerate(INPUTS)]


class WideDeepModule(tf.Module):
    def __init__(self, weights: dict[str, np.ndarray]):
        super().__init__()
        self.weights = {k: tf.Variable(v, name=k, trainable=False) for k, v in weights.items()}
        self.serve = tf.function(
            lambda *tensors: {OUTPUT: tf.sigmoid(model.logits(self.weights, dict(zip(INPUTS, tensors)), exact=False))},
            input_signature=input_signature())

    def predict(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        return self.serve(*[tf.constant(inputs[name]) for name in INPUTS])[OUTPUT].numpy()


def save_savedmodel(weights: dict[str, np.ndarray], out: Path) -> WideDeepModule:
    module = WideDeepModule(weights)
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.serve})
    pin_fingerprint_uuid(out)
    return module


def export_onnx(module: WideDeepModule, out: Path, opset: int) -> None:
    """tf2onnx from the serving function; its inputs take the feature names (tf2onnx names them args_N)."""
    import onnx
    import tf2onnx

    from repro.families.onnx_canonical import canonical
    proto, _ = tf2onnx.convert.from_function(module.serve, input_signature=module.serve.input_signature, opset=opset)
    renames = {i.name: name for i, name in zip(proto.graph.input, INPUTS)}
    for tensor in proto.graph.input:
        tensor.name = renames[tensor.name]
    for node in proto.graph.node:
        node.input[:] = [renames.get(n, n) for n in node.input]
    (output,) = proto.graph.output
    if output.name != OUTPUT:
        for node in proto.graph.node:
            node.output[:] = [OUTPUT if n == output.name else n for n in node.output]
        output.name = OUTPUT
    proto = canonical(proto)   # TensorFlow's optimiser names and orders nodes differently on every run
    onnx.checker.check_model(proto)
    out.write_bytes(proto.SerializeToString(deterministic=True))


def ort_session(path: Path, threads: int):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def onnx_max_abs_diff(module: WideDeepModule, onnx_path: Path, inputs: dict[str, np.ndarray], threads: int) -> float:
    got = ort_session(onnx_path, threads).run([OUTPUT], inputs)[0]
    want = module.predict(inputs)
    return float(np.max(np.abs(got.astype(np.float64) - want)))


def engine_throughput(module: WideDeepModule, onnx_path: Path, inputs: dict[str, np.ndarray], threads: int,
                      repeats: int = 5) -> dict[str, float]:
    """In-process samples/s of each cpu engine on one batch (best of ``repeats`` after a warm-up): what the
    cpu flavour's engine choice rests on."""
    session = ort_session(onnx_path, threads)
    runs = {"tensorflow": lambda: module.predict(inputs), "onnxruntime": lambda: session.run([OUTPUT], inputs)}
    rates = {}
    for name, run in runs.items():
        run()
        best = min(_timed(run) for _ in range(repeats))
        rates[name] = round(len(next(iter(inputs.values()))) / best, 1)
    return rates


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start
