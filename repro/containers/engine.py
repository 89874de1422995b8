"""The container engine (docker or podman, whichever is installed) and upstream's run flags.

Every command of a container profile runs as `<engine> run` with the same flags: the GPU (`--gpus all` for
docker, CDI `--device nvidia.com/gpu=all` for podman), `--ipc=host`, `--shm-size`, upstream's ulimits
(memlock unlimited, 64 MiB stack), the host network (servers listen on 127.0.0.1 only), the workspace
mounted at its own absolute path (so every path a stage prints means the same inside and out) and the
invoking user's uid:gid (files written stay the user's).
"""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

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

    def run(self, image: str, command: list[str], *, mounts: dict[Path, str] | None = None,
            name: str | None = None, detach: bool = False, env: dict[str, str] | None = None,
            gpu: bool | None = None) -> list[str]:
        """``<engine> run`` of ``command`` in ``image`` with upstream's flags (``gpu=False``: a client that
        needs none)."""
        ws = str(self.workspace)
        argv = [self.name, "run", "--rm", *(["--detach", "--name", name] if detach and name else []),
                *self.gpu_flags(gpu), "--ipc=host", f"--shm-size={self.shm_size}",
                "--ulimit", "memlock=-1", "--ulimit", "stack=67108864", "--network=host",
                "--user", f"{self.uid}:{self.gid}", "--volume", f"{ws}:{ws}", "--workdir", ws]
        for src, dst in (mounts or {}).items():
            argv += ["--volume", f"{src}:{dst}:ro"]
        for key, value in sorted((env or {}).items()):
            argv += ["--env", f"{key}={value}"]
        return argv + [image, *command]

    def build(self, tag: str, context: Path, build_args: dict[str, str]) -> list[str]:
        argv = [self.name, "build", "--tag", tag, "--file", str(context / "Dockerfile")]
        for key, value in build_args.items():
            argv += ["--build-arg", f"{key}={value}"]
        return argv + [str(context)]

    def stop(self, name: str) -> list[str]:
        return [self.name, "stop", "--time", "30", name]
