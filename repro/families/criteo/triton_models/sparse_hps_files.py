"""Sparse lookup served from the HPS binary files (key / emb_vector, fused table) with numpy.
This is an HPS-FILE lookup in Triton's python backend, not the HPS backend (container-only)."""
import json
from pathlib import Path

import numpy as np
import triton_python_backend_utils as pb_utils


class TritonPythonModel:
    def initialize(self, args):
        root = Path(args["model_repository"]) / args["model_version"] / "hps"
        layout = json.loads((root / "layout.json").read_text())
        dim = layout["embedding_dim"]
        table = root / layout["tables"][0]
        keys = np.fromfile(table / "key", dtype="<i8")
        self.vectors = np.fromfile(table / "emb_vector", dtype="<f4").reshape(-1, dim)
        if len(keys) != len(self.vectors):
            raise pb_utils.TritonModelException(f"{table}: {len(keys)} keys but {len(self.vectors)} vectors")
        self.order = None if np.array_equal(keys, np.arange(len(keys))) else np.argsort(keys)
        self.keys = keys
        self.offsets = np.asarray(layout["offsets"], dtype=np.int64)

    def rows(self, keys):
        if self.order is None:
            return keys
        return self.order[np.searchsorted(self.keys, keys, sorter=self.order)]

    def execute(self, requests):
        responses = []
        for request in requests:
            ids = pb_utils.get_input_tensor_by_name(request, "categorical_features").as_numpy()
            lookups = self.vectors[self.rows(ids.astype(np.int64) + self.offsets)]
            responses.append(pb_utils.InferenceResponse([pb_utils.Tensor("lookup_vectors", lookups)]))
        return responses
