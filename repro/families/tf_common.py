"""TensorFlow helpers every TF family shares: deterministic threading and seeds, a float64 Adam whose
updates are the same bits on any x86-64 CPU, and byte-stable SavedModels."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf


@dataclass(frozen=True)
class TrainConfig:
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int


def configure_determinism(seed: int, threads: int) -> None:
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    try:
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(threads)
    except RuntimeError:  # already initialised in this process (several stages run in one test process)
        if tf.config.threading.get_intra_op_parallelism_threads() != threads:
            raise


def f64(x) -> tf.Tensor:
    return tf.cast(x, tf.float64)


class Adam:
    """Plain Adam over tf.Variables (gradients densified; tables here are small). The update is computed
    in float64 and rounded once to the float32 variables: float32 division and square root go through
    the CPU's approximate reciprocal instructions in Eigen, whose bits differ between CPUs."""

    def __init__(self, variables: list[tf.Variable], lr: float, beta1: float = 0.9, beta2: float = 0.999):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, 1e-7
        self.m = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.v = [tf.Variable(tf.zeros_like(v)) for v in variables]
        self.step = tf.Variable(0.0)

    def apply(self, grads: list, variables: list[tf.Variable]) -> None:
        self.step.assign_add(1.0)
        step = f64(self.step)
        correction = tf.sqrt(1 - self.beta2 ** step) / (1 - self.beta1 ** step)
        for g, var, m, v in zip(grads, variables, self.m, self.v):
            g = f64(tf.convert_to_tensor(g))
            m.assign(tf.cast(self.beta1 * f64(m) + (1 - self.beta1) * g, tf.float32))
            v.assign(tf.cast(self.beta2 * f64(v) + (1 - self.beta2) * g * g, tf.float32))
            update = self.lr * correction * f64(m) / (tf.sqrt(f64(v)) + self.eps)
            var.assign(tf.cast(f64(var) - update, tf.float32))


def exact_matmul(a: tf.Tensor, b: tf.Tensor, transpose_b: bool = False) -> tf.Tensor:
    """float32 in and out, products and sums in float64, rounded once. oneDNN and Eigen split a float32
    sum by the CPU's cache sizes, so plain tf.matmul differs in its last bits between CPUs; this does
    not (nor does its gradient, which is float64 matmuls too). Training and TensorFlow's own scores use
    it; exported graphs keep plain float32 MatMul."""
    return tf.cast(tf.matmul(tf.cast(a, tf.float64), tf.cast(b, tf.float64), transpose_b=transpose_b), tf.float32)


def pin_fingerprint_uuid(savedmodel: Path) -> None:
    """TensorFlow writes a random ``uuid`` into fingerprint.pb; every other field is a content hash.
    Derive the uuid from those hashes so the same model gives the same bytes (two clean runs must)."""
    from tensorflow.core.protobuf import fingerprint_pb2
    path = savedmodel / "fingerprint.pb"
    if not path.exists():
        return
    fingerprint = fingerprint_pb2.FingerprintDef.FromString(path.read_bytes())
    fingerprint.uuid = ""
    digest = hashlib.sha256(fingerprint.SerializeToString(deterministic=True)).digest()
    fingerprint.uuid = str(int.from_bytes(digest[:16], "big"))
    path.write_bytes(fingerprint.SerializeToString(deterministic=True))
