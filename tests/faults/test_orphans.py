"""Faults: no server outlives its run. SIGKILL of the launching process takes the server with it
(PR_SET_PDEATHSIG), and whatever of a killed run's process group survives (python-backend stubs) is
stopped by the next server start."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from repro import paths
from repro.serving import server as server_module
from tests.faults.test_half_written import dead_pid


def wait_gone(pid: int, timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:  # a zombie child of ours counts as gone
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return True
        except ChildProcessError:
            pass
        time.sleep(0.1)
    return False


def test_stale_group_of_a_dead_launcher_is_stopped_by_the_next_start(tmp_path):
    stub = subprocess.Popen(["sleep", "60"], start_new_session=True)     # stands for a surviving python stub
    (tmp_path / f"{stub.pid}.json").write_text(json.dumps({"pgid": stub.pid, "parent": dead_pid(),
                                                           "repository": "x"}))
    assert server_module.stop_stale_servers(tmp_path) == [stub.pid]
    assert wait_gone(stub.pid) and not list(tmp_path.iterdir())


def test_a_live_runs_server_is_left_alone(tmp_path):
    stub = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        (tmp_path / f"{stub.pid}.json").write_text(json.dumps({"pgid": stub.pid, "parent": os.getpid(),
                                                               "repository": "x"}))
        assert server_module.stop_stale_servers(tmp_path) == []
        assert stub.poll() is None
    finally:
        stub.kill()
        stub.wait()


@pytest.mark.e2e
def test_server_dies_when_its_launcher_is_killed(tmp_path):
    (tmp_path / "repo").mkdir()
    script = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from repro import paths
        from repro.serving.runtime import Runtime
        from repro.serving.server import TritonServer
        with TritonServer(Runtime(paths.RUNTIME), Path({str(tmp_path / 'repo')!r}), Path({str(tmp_path / 'log')!r})) as s:
            print(s.process.pid, flush=True)
            time.sleep(120)
    """)
    launcher = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=paths.ROOT,
                                env={**os.environ, "PYTHONPATH": str(paths.ROOT)})
    server_pid = int(launcher.stdout.readline())
    launcher.send_signal(signal.SIGKILL)
    launcher.wait()
    assert wait_gone(server_pid), "tritonserver outlived the SIGKILLed process that started it"
