"""Launch the real Triton server on 127.0.0.1 and always stop it: on success, error, Ctrl-C and
SIGTERM by stopping its process group; on SIGKILL of the parent (a CI timeout, the OOM killer) the
kernel kills the server (PR_SET_PDEATHSIG), and the next server start stops whatever of an earlier
run's group is still alive (its python-backend stubs), found through the pid files in ``SERVERS``."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from repro import paths
from repro.atomic import pid_alive
from repro.serving.runtime import Runtime

HOST = "127.0.0.1"
SERVERS = paths.ROOT / ".cache" / "servers"   # one pid file per running server: <server pid>.json
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: the kernel sends SIGKILL when the parent dies, even by SIGKILL."""
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):  # not Linux: the stale-server sweep below still applies
        pass


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_stale_servers(folder: Path = SERVERS) -> list[int]:
    """Stop the process groups of servers whose launching process is gone; returns their pids."""
    stopped = []
    for record in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        try:
            info = json.loads(record.read_text())
        except (OSError, json.JSONDecodeError):
            record.unlink(missing_ok=True)
            continue
        if group_alive(info["pgid"]) and not pid_alive(info["parent"]):
            signal_group(info["pgid"], signal.SIGKILL)
            stopped.append(int(info["pgid"]))
        if not group_alive(info["pgid"]) or not pid_alive(info["parent"]):
            record.unlink(missing_ok=True)
    return stopped


class ServerError(RuntimeError):
    """The server did not start, died, or a model failed to load; the message carries the log tail."""


@dataclass(frozen=True)
class Ports:
    http: int
    grpc: int
    metrics: int

    @property
    def http_url(self) -> str:
        return f"{HOST}:{self.http}"

    @property
    def grpc_url(self) -> str:
        return f"{HOST}:{self.grpc}"


def _bound_socket(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.bind((HOST, port))
    except OSError:
        sock.close()
        raise
    return sock


def _held_port(port: int, what: str) -> socket.socket:
    try:
        return _bound_socket(port)
    except OSError as exc:
        raise ServerError(f"{what} port {HOST}:{port} is already in use ({exc.strerror}); "
                          f"stop whatever holds it or set the port to 0 to pick a free one.") from None


def choose_ports(http: int = 0, grpc: int = 0, metrics: int = 0) -> Ports:
    """Fixed ports are checked to be free and distinct; 0 picks a free port.

    Every chosen port stays bound until all three are chosen, so the kernel cannot hand the same free
    port out twice (the server refuses HTTP and gRPC on one port)."""
    named = (("HTTP", http), ("gRPC", grpc), ("metrics", metrics))
    fixed = [port for _, port in named if port]
    if len(set(fixed)) != len(fixed):
        raise ServerError(f"the HTTP, gRPC and metrics ports must differ (got {http}, {grpc}, {metrics}); "
                          f"set them apart or to 0 to pick free ones.")
    with contextlib.ExitStack() as held:
        for what, port in named:
            if port:
                held.enter_context(_held_port(port, what))
        chosen = []
        for _, port in named:
            if not port:
                port = int(held.enter_context(_bound_socket(0)).getsockname()[1])
            chosen.append(port)
    return Ports(*chosen)


def signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


# Errors every CPU-only start logs; they say nothing about why a model failed.
HARMLESS = ("CudaDriverHelper has not been initialized", "Failed to initialize NVML", "DCGM")


def log_errors(text: str) -> list[str]:
    """The server's error lines (E-level, protobuf parse errors), without the ones every CPU start logs."""
    found = [line.strip() for line in text.splitlines()
             if (line.startswith("E") and line[1:5].isdigit()) or "ERROR" in line and "text_format" in line
             or line.startswith("error:")]
    return [line for line in found if not any(h in line for h in HARMLESS)]


# Log lines after which a server never becomes ready although its process lives on: a python backend stub
# that cannot start (its shared libpython missing) leaves its model "loading" until the ready timeout.
NEVER_READY = ("error while loading shared libraries",)


def never_ready(path: Path) -> str | None:
    """The first log line saying the server cannot become ready, or None."""
    if not path.exists():
        return None
    return next((line for line in path.read_text(errors="replace").splitlines()
                 if any(marker in line for marker in NEVER_READY)), None)


def log_tail(path: Path, lines: int = 25) -> str:
    """The server's error lines first (a config.pbtxt parse error names file, line and column there),
    then the log's last lines."""
    if not path.exists():
        return "(no server log)"
    text = path.read_text(errors="replace")
    errors = log_errors(text)
    head = ("Errors in the log:\n" + "\n".join(errors[:12]) + "\n\n") if errors else ""
    return head + "Last lines:\n" + "\n".join(text.splitlines()[-lines:])


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310 (loopback only)
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, b""
    except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout):
        return 0, b""


@dataclass
class TritonServer:
    """Context manager around one ``tritonserver`` process.

    Binds every endpoint to 127.0.0.1, loads exactly ``models`` (explicit model control), waits
    for readiness, writes the server log to ``log_path`` and stops the server on exit whatever
    happened. SIGTERM to this process is turned into an exception so the server is stopped too.
    """

    runtime: Runtime
    model_repository: Path
    log_path: Path
    models: list[str] = field(default_factory=list)
    extra_args: list[str] = field(default_factory=list)
    ports: Ports | None = None
    ready_timeout_s: float = 120.0
    process: subprocess.Popen | None = None
    _old_sigterm: object = None

    def command(self, ports: Ports) -> list[str]:
        cmd = [str(self.runtime.server), f"--model-repository={self.model_repository}",
               f"--backend-directory={self.runtime.backend_dir}", "--model-control-mode=explicit",
               f"--http-address={HOST}", f"--grpc-address={HOST}", f"--metrics-address={HOST}",
               f"--http-port={ports.http}", f"--grpc-port={ports.grpc}", f"--metrics-port={ports.metrics}",
               "--log-verbose=0", "--exit-on-error=true", "--strict-readiness=true"]
        cmd += [f"--load-model={name}" for name in self.models]
        return cmd + list(self.extra_args)

    def __enter__(self) -> "TritonServer":
        self.runtime.check()
        self.ports = self.ports or choose_ports()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        for pgid in stop_stale_servers():
            print(f"[server] stopped a Triton server left running by an earlier, killed run (process group "
                  f"{pgid})", file=sys.stderr, flush=True)
        self._install_sigterm()
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(self.command(self.ports), stdout=log, stderr=subprocess.STDOUT,
                                            env=self.runtime.env(), start_new_session=True,
                                            preexec_fn=die_with_parent)
        self._record()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    def _record(self) -> None:
        assert self.process is not None
        SERVERS.mkdir(parents=True, exist_ok=True)
        (SERVERS / f"{self.process.pid}.json").write_text(json.dumps(
            {"pgid": self.process.pid, "parent": os.getpid(), "repository": str(self.model_repository)}))

    def _install_sigterm(self) -> None:
        def on_sigterm(signum: int, frame: object) -> None:
            raise KeyboardInterrupt(f"signal {signum}")
        try:
            self._old_sigterm = signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:  # not the main thread: the caller owns signal handling
            self._old_sigterm = None

    def wait_ready(self) -> None:
        assert self.process is not None and self.ports is not None
        deadline = time.monotonic() + self.ready_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"Triton server exited with code {self.process.returncode} before it was ready "
                                  f"(model repository {self.model_repository}, models {self.models}).\n"
                                  f"From {self.log_path}:\n{log_tail(self.log_path)}")
            status, _ = http_get(f"http://{self.ports.http_url}/v2/health/ready")
            if status == 200:
                return
            fatal = never_ready(self.log_path)
            if fatal:
                raise ServerError(f"Triton server cannot become ready: {fatal.strip()} (models {self.models}). "
                                  f"From {self.log_path}:\n{log_tail(self.log_path)}")
            time.sleep(0.2)
        raise ServerError(f"Triton server not ready after {self.ready_timeout_s:.0f} s "
                          f"(models {self.models}). From {self.log_path}:\n{log_tail(self.log_path)}")

    def is_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def metadata(self) -> dict:
        assert self.ports is not None
        status, body = http_get(f"http://{self.ports.http_url}/v2")
        if status != 200:
            raise ServerError(f"server metadata request failed with HTTP status {status}")
        return json.loads(body)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the server's process group (the python-backend stubs are in it), then SIGKILL."""
        proc, self.process = self.process, None
        if proc is not None:
            signal_group(proc.pid, signal.SIGTERM)  # also when the leader died: its stubs may live on
            try:
                proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                signal_group(proc.pid, signal.SIGKILL)
                proc.wait()
            deadline = time.monotonic() + timeout_s
            while group_alive(proc.pid) and time.monotonic() < deadline:   # stubs exit after the server
                time.sleep(0.1)
            signal_group(proc.pid, signal.SIGKILL)
            (SERVERS / f"{proc.pid}.json").unlink(missing_ok=True)
        if self._old_sigterm is not None:
            signal.signal(signal.SIGTERM, self._old_sigterm)  # type: ignore[arg-type]
            self._old_sigterm = None
