"""Export the container flavour's sparse SavedModel on the GPU host, inside the TF image (under
`horovodrun`, as upstream converts): input_1 [batch, 26] -> output_1 [batch, 26*dim], each table on the
device placement.json gives it, recorded with SAVE_VARIABLE_DEVICES. Devices are recorded as they exist
at save time, so this refuses to run where a table placed on the GPU would silently land on the CPU.

It runs under the image's own Python (3.8 in tensorflow:23.02-tf2-py3), so it needs only TensorFlow and
NumPy, reads the checkpoint's upstream layout (sparse/config.json, sparse/feature_<i>.npy) itself, and
is run as a file, so that no other project module is imported:

    python repro/families/criteo/container_export.py --checkpoint artifacts/train/dlrm \\
        --placement artifacts/convert/dlrm/placement.json --out triton_repos/a100/container/dlrm_sparse/1/model.savedmodel
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


class ExportError(Exception):
    pass


def export(checkpoint: Path, placement: Path, out: Path) -> None:
    import tensorflow as tf
    devices = [t["device"] for t in json.loads(placement.read_text())["tables"]]
    if "GPU" in devices and not tf.config.list_physical_devices("GPU"):
        raise ExportError(f"{placement} puts {devices.count('GPU')} tables on the GPU, but TensorFlow sees no GPU "
                          "here: a SavedModel saved now would record CPU for them. Run this inside the TF image on the "
                          "GPU host (`make deploy-<gpu>` does).")
    config = json.loads((checkpoint / "sparse" / "config.json").read_text())
    tables = [np.load(checkpoint / "sparse" / f"feature_{i}.npy") for i in range(len(config["cardinalities"]))]
    if len(tables) != len(devices):
        raise ExportError(f"{placement} places {len(devices)} tables, the checkpoint {checkpoint} has {len(tables)}; "
                          "re-run the convert stage.")
    width = len(tables) * int(config["embedding_dim"])

    class Sparse(tf.Module):
        def __init__(self):
            super().__init__()
            self.tables = []
            for i, (table, device) in enumerate(zip(tables, devices)):
                with tf.device(f"/{device}:0"):
                    self.tables.append(tf.Variable(table, name=f"sparse_embedding{i}", trainable=False))
            self.call = tf.function(self.lookup, input_signature=[tf.TensorSpec([None, len(tables)], tf.int32,
                                                                                "input_1")])

        def lookup(self, ids):
            rows = [tf.gather(table, ids[:, i]) for i, table in enumerate(self.tables)]
            return {"output_1": tf.reshape(tf.stack(rows, axis=1), [-1, width])}

    module = Sparse()
    options = tf.saved_model.SaveOptions(
        experimental_variable_policy=tf.saved_model.experimental.VariablePolicy.SAVE_VARIABLE_DEVICES)
    tf.saved_model.save(module, str(out), signatures={"serving_default": module.call}, options=options)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--placement", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    a = parser.parse_args(argv)
    try:
        export(a.checkpoint, a.placement, a.out)
    except (ExportError, OSError, KeyError, ValueError) as exc:
        print(f"container-export: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
