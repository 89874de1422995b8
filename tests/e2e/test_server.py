"""The real Triton server from the local runtime: starts on 127.0.0.1, reports 2.51, always stops."""
from __future__ import annotations

import socket

import pytest

from repro import paths
from repro.serving.runtime import Runtime, RuntimeSetupError
from repro.serving.server import HOST, Ports, ServerError, TritonServer, choose_ports

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runtime():
    rt = Runtime(paths.RUNTIME)
    rt.check()
    return rt


def test_server_binds_loopback_and_stops(runtime, tmp_path):
    (tmp_path / "models").mkdir()
    with TritonServer(runtime, tmp_path / "models", tmp_path / "server.log") as server:
        assert server.metadata()["version"] == "2.51.0"
        assert server.ports is not None
        process = server.process
        listening = [line for line in open("/proc/net/tcp").read().splitlines()[1:]
                     if line.split()[1].endswith(f":{server.ports.http:04X}") and line.split()[3] == "0A"]
        assert listening and all(line.split()[1].startswith("0100007F") for line in listening)
    assert process is not None and process.poll() is not None
    assert (tmp_path / "server.log").exists()


def test_port_in_use_is_a_clear_error(runtime, tmp_path):
    with socket.socket() as holder:
        holder.bind((HOST, 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(ServerError, match=f"HTTP port 127.0.0.1:{port} is already in use"):
            choose_ports(http=port)


def test_picked_ports_are_distinct_and_avoid_the_fixed_ones():
    for _ in range(300):
        ports = choose_ports()
        assert len({ports.http, ports.grpc, ports.metrics}) == 3
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        fixed = probe.getsockname()[1]
    ports = choose_ports(http=fixed)
    assert ports.http == fixed and fixed not in (ports.grpc, ports.metrics)


def test_equal_fixed_ports_are_a_clear_error():
    with pytest.raises(ServerError, match="ports must differ"):
        choose_ports(http=8000, grpc=8000)


def test_missing_model_fails_fast_with_log(runtime, tmp_path):
    (tmp_path / "models").mkdir()
    server = TritonServer(runtime, tmp_path / "models", tmp_path / "server.log", models=["nope"], ready_timeout_s=60)
    with pytest.raises(ServerError, match="exited with code"):
        server.__enter__()
    assert server.process is None


def test_incomplete_runtime_says_how_to_fix(tmp_path):
    with pytest.raises(RuntimeSetupError, match="run `make setup`"):
        Runtime(tmp_path).check()


def test_ports_pick_free_ones():
    ports = choose_ports()
    assert isinstance(ports, Ports) and len({ports.http, ports.grpc, ports.metrics}) == 3


def test_a_stub_that_cannot_start_is_reported_at_once(tmp_path):
    """Seen in a container without libpython3.11: the model stays 'loading' and the ready endpoint never
    answers; the wait stops at the log line instead of after the ready timeout."""
    from repro.serving.server import never_ready
    log = tmp_path / "server.log"
    assert never_ready(log) is None
    log.write_text('I1124 model_lifecycle.cc:472] "loading: dlrm_dense:1"\n')
    assert never_ready(log) is None
    log.write_text(log.read_text() + "/opt/runtime/backends/python/triton_python_backend_stub: error while loading "
                   "shared libraries: libpython3.11.so.1.0: cannot open shared object file\n")
    assert "libpython3.11.so.1.0" in never_ready(log)
