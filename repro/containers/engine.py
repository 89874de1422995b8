"""The container engine (docker or podman, whichever is installed) and upstream's run flags.

Every command of a container profile runs as `<engine> run` with the same flags: the GPU (`--gpus all` for
docker, CDI `--device nvidia.com/gpu=all` for podman), `--ipc=host`, `--shm-size`, upstream's ulimits
(memlock unlimited, 64 MiB stack), the host network (servers listen on 127.0.0.1 only), the workspace
mounted at its own absolute path (so every path a stage prints means the same inside and out) and the
invoking user's uid:gid (files written stay the user's).
"""
from __future__ import annotations

import functools
import os
import resource
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from repro.containers.local_image import podman_config
from repro.errors import UserError

ENGINES = ("docker", "podman")


def detect(preference: str = "auto") -> str:
    """The engine to use: ``preference`` when installed, or the first of docker, podman that is."""
    wanted = ENGINES if preference == "auto" else (preference,)
    for engine in wanted:
        if shutil.which(engine):
            return engine
    raise UserError(f"no container engine found ({' or '.join(wanted)} on PATH); install docker with the NVIDIA "
                    "container toolkit, or podman with a CDI spec (`nvidia-ctk cdi generate`), then re-run.")


@dataclass(frozen=True)
class Engine:
    name: str                          # docker | podman
    workspace: Path                    # the project checkout, mounted at the same path
    uid: int = field(default_factory=os.getuid)
    gid: int = field(default_factory=os.getgid)
    shm_size: str = "1g"
    gpu: bool = True

    def gpu_flags(self, gpu: bool | None = None) -> list[str]:
        if not (self.gpu if gpu is None else gpu):
            return []
        return ["--gpus", "all"] if self.name == "docker" else ["--device", "nvidia.com/gpu=all"]

    def shm_flags(self) -> list[str]:
        """Upstream's ``--shm-size`` beside ``--ipc=host``: docker accepts the pair; podman refuses it ("cannot
        set shmsize when running in the host IPC namespace"), and with the host's IPC the host's /dev/shm is
        used anyway, so podman gets ``--ipc=host`` alone."""
        return [f"--shm-size={self.shm_size}"] if self.name == "docker" else []

    def run(self, image: str, command: list[str], *, mounts: dict[Path, str] | None = None,
            name: str | None = None, detach: bool = False, env: dict[str, str] | None = None,
            gpu: bool | None = None, gpu_ulimits: bool = True) -> list[str]:
        """``<engine> run`` of ``command`` in ``image`` with upstream's flags (``gpu=False``: a client that
        needs none; ``gpu_ulimits=False``: without upstream's memlock/stack limits, which pin host memory
        for a GPU and need CAP_SYS_RESOURCE where the hard limits are lower)."""
        ws = str(self.workspace)
        named = ["--name", name] if name else []
        argv = [self.name, "run", "--rm", *(["--detach"] if detach and name else []), *named,
                *self.gpu_flags(gpu), "--ipc=host", *self.shm_flags(),
                *(["--ulimit", "memlock=-1", "--ulimit", "stack=67108864"] if gpu_ulimits else []), "--network=host",
                "--user", f"{self.uid}:{self.gid}", "--volume", f"{ws}:{ws}", "--workdir", ws]
        for src, dst in (mounts or {}).items():
            argv += ["--volume", f"{src}:{dst}:ro"]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", f"{key}={value}"]
        return argv + [image, *command]

    def build(self, tag: str, context: Path, build_args: dict[str, str],
              volumes: dict[Path, str] | None = None) -> list[str]:
        """``<engine> build``; ``volumes`` (host path -> path in the build, read-only) only with podman,
        whose build can mount them (docker's cannot)."""
        argv = [self.name, "build", "--tag", tag, "--file", str(context / "Dockerfile")]
        for key, value in build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        if self.name == "podman":
            for src, dst in (volumes or {}).items():
                argv += ["--volume", f"{src}:{dst}:ro"]
        return argv + [str(context)]

    def environment(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment the engine runs with: podman with the project's containers.conf and storage.conf
        (written once under the user's cache) unless the user points it at their own."""
        env = dict(os.environ if base is None else base)
        if self.name != "podman" or "CONTAINERS_CONF" in env:
            return env
        store = write_podman_config(Path(env.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "repro" / "containers")
        return {**env, "CONTAINERS_CONF": str(store / "containers.conf"),
                "CONTAINERS_STORAGE_CONF": str(store / "storage.conf")}

    def stop(self, name: str) -> list[str]:
        return [self.name, "stop", "--time", "30", name]


@functools.cache
def write_podman_config(store: Path) -> Path:
    """The project's podman configuration under ``store``, written once per process (where it changed)."""
    store.mkdir(parents=True, exist_ok=True)
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    for name, text in podman_config(store, 1048576 if hard == resource.RLIM_INFINITY else hard).items():
        if not (store / name).exists() or (store / name).read_text() != text:
            (store / name).write_text(text)
    return store
