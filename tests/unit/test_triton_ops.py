"""The engine's kernels as operators for the native backend (repro.engines.triton_ops, native_engine: kernels):
the Python and C++ definitions agree, the kernels compile ahead of time for an H100 without a GPU, the operators
give the references' results, and a traced DLRM engine calls them instead of the reference ops."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch", reason="PyTorch (CPU build) is part of requirements.lock")
pytest.importorskip("triton", reason="triton is part of requirements.lock")

from repro.engines import gpu_kernels as gk  # noqa: E402
from repro.engines import triton_ops  # noqa: E402
from repro.native.build import HERE  # noqa: E402

TABLES, DIM = 3, 16
PAIRS = [4, 8, 9, 12, 13, 14]


def test_the_cpp_operators_have_the_python_schemas():
    source = (HERE / "triton_ops.cc").read_text()
    joined = re.sub(r'"\s*\n\s*"', "", source)                    # adjacent string literals across lines
    defined = dict(re.findall(r'defs->def\("(\w+)(\(.*?\) -> Tensor)"\);', joined))
    assert defined == triton_ops.SCHEMAS


COMPILE = """
import json, torch
from repro.engines import triton_ops
out = []
for dtype in (torch.float16, torch.float32):
    for c in (triton_ops.gather_cubin(dtype, 26, 128, (9, 0)),
              triton_ops.interaction_cubin(dtype, 26, 128, 351, 480, True, (9, 0))):
        out.append([c.name, c.warps, c.data[:4].hex(), len(c.data)])
print(json.dumps(out))
"""


def test_the_kernels_compile_for_an_h100_without_a_gpu():
    # In a process of its own: Triton's interpreter (TRITON_INTERPRET=1, the other tests) replaces its language
    # functions process-wide, and only the compiler proper can write a cubin.
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    done = subprocess.run([sys.executable, "-c", COMPILE], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    compiled = json.loads(done.stdout.strip().splitlines()[-1])
    assert [c[0] for c in compiled] == ["_gather_rows", "_dot_interaction"] * 2
    assert all(warps == triton_ops.NUM_WARPS and magic == "7f454c46" and size > 1000 for _, warps, magic, size in compiled)


@pytest.fixture
def no_compiler(monkeypatch):
    """The operators' kernels stand in as bytes: on CPU the operators run the references and never launch them."""
    monkeypatch.setattr(triton_ops, "compile_kernel",
                        lambda name, *a: triton_ops.Cubin(b"not a cubin", name, triton_ops.NUM_WARPS, 0))


def test_the_gather_operator_gives_the_reference_rows(no_compiler):
    gen = torch.Generator().manual_seed(0)
    table = torch.randn(300, DIM, generator=gen)
    ids = torch.randint(0, 100, (70, TABLES), generator=gen, dtype=torch.int32)
    offsets = torch.tensor([0, 100, 200], dtype=torch.int32)
    compiled = triton_ops.gather_cubin(torch.float32, TABLES, DIM, (9, 0))
    got = triton_ops.gather_rows(table, ids, offsets, compiled)
    assert torch.equal(got, gk.gather_rows_reference(table, ids, offsets))


@pytest.mark.parametrize("bottom_first", [False, True])
def test_the_interaction_operator_gives_the_kernels_result(bottom_first, no_compiler):
    gen = torch.Generator().manual_seed(1)
    bottom, lookups = torch.randn(5, DIM, generator=gen), torch.randn(5, TABLES, DIM, generator=gen)
    width = -(-(len(PAIRS) + DIM) // 8) * 8
    slots = gk.interaction_slots(PAIRS, TABLES + 1, DIM if bottom_first else 0)
    got = triton_ops.dot_interaction(bottom, lookups, slots, len(PAIRS), width, bottom_first)
    want = gk.DotInteraction(PAIRS, bottom_first, 8, "cpu")(bottom, lookups)   # the kernel, interpreted
    assert got.shape == want.shape and torch.allclose(got, want, atol=1e-4)


def test_a_traced_interaction_calls_the_operator_with_its_kernel(no_compiler):
    interaction = gk.DotInteraction(PAIRS, True, 8, "cpu")
    bottom, lookups = torch.randn(4, DIM), torch.randn(4, TABLES, DIM)
    with gk.traced_as_operators(), torch.no_grad():
        traced = torch.jit.trace(lambda b, lk: interaction(b, lk), (bottom, lookups), check_trace=False)
    kinds = [n.kind() for n in traced.graph.nodes()]
    assert "repro::dot_interaction" in kinds and "aten::bmm" not in kinds and "aten::to" not in kinds
    other = (torch.randn(9, DIM), torch.randn(9, TABLES, DIM))   # another batch size
    assert torch.allclose(traced(*other), interaction(*other), atol=1e-4)
    with torch.no_grad():
        plain = torch.jit.trace(lambda b, lk: interaction(b, lk), (bottom, lookups), check_trace=False)
    assert "repro::dot_interaction" not in [n.kind() for n in plain.graph.nodes()]


def test_the_kernels_engine_is_refused_off_a_gpu(tmp_path):
    from repro.engines import scripted
    from repro.errors import UserError
    (tmp_path / "spec.json").write_text(json.dumps({
        "model": "dlrm", "precision": "fp32", "sparse": "fused", "device": "cpu", "cardinalities": [4, 5],
        "embedding_dim": 16, "seed": 0, "memory_threshold_gb": 1, "gpucacheper": 0.1, "batch_sizes": [8],
        "dense_seed": 1, "fp32_matmul": "ieee", "chunk_rows": 0, "native_engine": "kernels", "dense": "dense.onnx"}))
    with pytest.raises(UserError, match="native_engine 'kernels' .* needs a CUDA device"):
        scripted.write_module(tmp_path, torch.device("cpu"))
