"""The project's native Triton backend (repro/native), built here with the machine's g++ against the API
declared in triton_backend_api.h, loaded by the real Triton 2.51 server from the model's folder and asked
over gRPC, with DLRM-shaped inputs (issue 15's first step: the native counterpart of the transport ceiling)."""
from __future__ import annotations

import numpy as np
import pytest
import tritonclient.grpc as grpcclient

from repro import paths
from repro.native import build
from repro.serving.model_config import CATEGORICAL, NUMERICAL, OUTPUT, to_pbtxt
from repro.serving.runtime import Runtime
from repro.serving.server import TritonServer

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("native")
    model = tmp / "models" / "transport_native"
    (model / "1").mkdir(parents=True)
    build.build("repro_transport", model)
    config = build.model_config("transport_native", "repro_transport", 65536, [CATEGORICAL, NUMERICAL], [OUTPUT],
                                instances=1, kind="KIND_CPU")
    (model / "config.pbtxt").write_text(to_pbtxt(config))
    with TritonServer(Runtime(paths.RUNTIME), tmp / "models", tmp / "server.log", models=["transport_native"]) as srv:
        yield srv


@pytest.mark.parametrize("batch", [1, 256, 4096])
def test_native_backend_answers_zeros_of_the_batch(server, batch):
    client = grpcclient.InferenceServerClient(server.ports.grpc_url)
    rng = np.random.default_rng(batch)
    inputs = [grpcclient.InferInput(CATEGORICAL.name, [batch, 26], "INT32"),
              grpcclient.InferInput(NUMERICAL.name, [batch, 13], "FP32")]
    inputs[0].set_data_from_numpy(rng.integers(0, 1000, (batch, 26), dtype=np.int32))
    inputs[1].set_data_from_numpy(rng.random((batch, 13), dtype=np.float32))
    out = client.infer("transport_native", inputs, outputs=[grpcclient.InferRequestedOutput(OUTPUT.name)])
    result = out.as_numpy(OUTPUT.name)
    assert result.shape == (batch, 1) and result.dtype == np.float32 and not result.any()
    stats = client.get_inference_statistics("transport_native").model_stats[0]
    assert stats.inference_stats.success.count >= 1          # the backend reports its statistics


def test_the_build_is_one_compiler_line_with_undefined_triton_symbols(tmp_path):
    lib = build.build("repro_transport", tmp_path)
    assert lib.name == "libtriton_repro_transport.so" and not list(tmp_path.glob(".*.partial"))
    argv = build.compile_command("repro_transport", lib)
    assert argv[0] == "g++" and "-fvisibility=hidden" in argv and argv[-1].endswith("transport_backend.cc")


def test_an_unknown_backend_is_a_clear_error(tmp_path):
    from repro.errors import UserError
    with pytest.raises(UserError, match="choose one of repro_torch, repro_transport"):
        build.build("nope", tmp_path)


def test_the_torch_backend_builds_with_its_cuda_path(tmp_path):
    """repro_torch's CUDA path (registered shared memory, CUDA graphs, chunk pipeline, the Triton cubins' launcher)
    compiles here against the venv's CUDA build of libtorch and its CUDA runtime; it runs on the GPU host."""
    import os
    from pathlib import Path
    homes = [os.environ.get("CUDA_HOME", ""), "/usr/local/cuda"]
    if not any(h and (Path(h) / "include" / "crt" / "host_config.h").exists() for h in homes):
        pytest.skip("no CUDA toolkit headers on this machine (CUDA_HOME or /usr/local/cuda): the CUDA path is "
                    "compiled on the GPU host only")
    lib = build.build("repro_torch", tmp_path, cuda=True)
    argv = build.compile_command("repro_torch", lib, cuda=True)
    assert "-DREPRO_WITH_CUDA" in argv and any(a.startswith("-l:libcudart") for a in argv)
    assert lib.stat().st_size > 0
    binary = lib.read_bytes()   # the engine's kernels as operators (triton_ops.cc), for native_engine: kernels
    assert b"gather_rows(Tensor table" in binary and b"cudaLibraryLoadData" in binary
