"""The project's own image for the cpu profile (docker/cpu), built on this machine without a registry.

1. base: a Debian bookworm root file system made by mmdebstrap from Debian's packages (with this
   machine's extra CA certificates, so HTTPS through an egress proxy works inside), imported as
   ``localhost/repro-debian:bookworm`` (docker/pins.yaml: status ``local``);
2. the image: docker/cpu/Dockerfile installs requirements.lock into /opt/venv and the Triton runtime
   from the wheels `make setup` fetched; its tag is the hash of everything it is built from, so a
   changed lock, Dockerfile or runtime pin builds a new image and an unchanged one is reused.

Pure functions here; tools/cpu_container.py runs them.
"""
from __future__ import annotations

import configparser
import hashlib
import io
from pathlib import Path

from repro import paths
from repro.serving.runtime import PERF_ANALYZER_WHEEL, SERVER_WHEEL

BASE_TAG = "localhost/repro-debian:bookworm"
IMAGE_REPO = "localhost/repro-cpu"
SUITE, MIRROR = "bookworm", "http://deb.debian.org/debian"
CA_DIR = Path("/usr/local/share/ca-certificates")

# build context path -> repository path: what the image is made of besides the Triton wheels
CONTEXT = {"Dockerfile": "docker/cpu/Dockerfile", "requirements.lock": "requirements.lock",
           "runtime/repro/__init__.py": "repro/__init__.py",
           "runtime/repro/serving/__init__.py": "repro/serving/__init__.py",
           "runtime/repro/serving/runtime.py": "repro/serving/runtime.py",
           "runtime/tools/__init__.py": "tools/__init__.py",
           "runtime/tools/setup_runtime.py": "tools/setup_runtime.py"}


def context_files(root: Path = paths.ROOT, wheels: Path | None = None) -> dict[str, Path]:
    """Every file of the build context: its name in the context -> the file here."""
    wheels = wheels or root / ".cache" / "wheels"
    files = {name: root / rel for name, rel in CONTEXT.items()}
    for pin in (SERVER_WHEEL, PERF_ANALYZER_WHEEL):
        files[f"wheels/{pin.filename}"] = wheels / pin.filename
    return files


def image_tag(files: dict[str, Path]) -> str:
    """``localhost/repro-cpu:<12 hex>``: the hash of the context's names and contents."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + hashlib.sha256(files[name].read_bytes()).digest())
    return f"{IMAGE_REPO}:{digest.hexdigest()[:12]}"


def rootfs_command(out: Path, ca_files: list[Path]) -> list[str]:
    """mmdebstrap's command for the base root file system (a tar), with ``ca_files`` trusted inside."""
    hooks = []
    if ca_files:
        hooks = [f"--customize-hook=copy-in {' '.join(map(str, ca_files))} {CA_DIR}/",
                 '--customize-hook=chroot "$1" update-ca-certificates']
    return ["mmdebstrap", "--variant=minbase", "--include=ca-certificates", *hooks, SUITE, str(out),
            f"deb {MIRROR} {SUITE} main"]


def local_paths(value: str) -> list[Path]:
    """The local files and folders a pip setting names (``file://`` URLs and absolute paths). A local
    ``.../simple`` index links its files relative to itself (``../../files/...``), so its parent is named."""
    found = []
    for word in value.split():
        path = Path(word[len("file://"):] if word.startswith("file://") else word)
        if path.is_absolute() and path.exists():
            found.append(path.parent if path.name == "simple" else path)
    return found


def pip_sources(settings: dict[str, str]) -> tuple[str, list[Path]]:
    """The build's pip.conf, made from this machine's pip settings (``pip config list``: ``section.key``
    -> value; environment ones as ``:env:.key``), and the local paths they name (mounted read-only into
    the build, so the image installs the lock from the same sources as `make setup` did)."""
    config = configparser.ConfigParser(interpolation=None)
    config["global"] = {}
    mounts: list[Path] = []
    for name, value in settings.items():
        key = name.rsplit(".", 1)[-1]
        config["global"][key] = value
        mounts += [p for p in local_paths(value) if p not in mounts]
    text = io.StringIO()
    config.write(text)
    return text.getvalue(), mounts


def parse_pip_config_list(text: str) -> dict[str, str]:
    """``pip config list`` output (``global.cert='/etc/...'``) -> {name: value}; later lines win."""
    settings = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip():
            settings[name.strip()] = value.strip().strip("'\"")
    return settings


def podman_config(store: Path, hard_nofile: int) -> dict[str, str]:
    """containers.conf and storage.conf that work on a VM without CAP_SYS_RESOURCE and with hybrid
    cgroups (shared/notes/containers.md): runc instead of crun, cgroupfs, ulimits within the hard limits."""
    return {
        "containers.conf": "\n".join([
            "# Written by tools/cpu_container.py (repro.containers.local_image.podman_config).",
            "[containers]", 'netns = "host"',
            f'default_ulimits = ["nofile=1024:{hard_nofile}", "nproc=32768:32768"]',
            "[engine]", 'runtime = "runc"', 'cgroup_manager = "cgroupfs"', 'events_logger = "file"', ""]),
        "storage.conf": "\n".join([
            "# Written by tools/cpu_container.py (repro.containers.local_image.podman_config).",
            "[storage]", 'driver = "overlay"', f'graphroot = "{store / "storage"}"', f'runroot = "{store / "run"}"', ""]),
    }


def pipeline_command(profile: str) -> str:
    """What runs inside the image: `make deploy-<profile>` without make (the image has its own environment)."""
    return f"python -m tools.check_params --profile {profile} && exec dvc repro tables@{profile}"


# Outputs whose bytes are not expected to repeat: the conversion report holds in-process engine timings.
NOT_BYTE_STABLE = ("results/convert/",)
ARTIFACT_STAGES = ("data", "train@", "convert@", "engine@")


def artifact_hashes(lock: dict, profile: str) -> dict[str, str | None]:
    """Output path -> md5 in a dvc.lock, for the stages that make artifacts (data .. repos@<profile>); None
    where an entry has no hash."""
    found = {}
    for stage, entry in (lock.get("stages") or {}).items():
        if stage.startswith(ARTIFACT_STAGES) or stage == f"repos@{profile}":
            for out in entry.get("outs", []):
                if not out["path"].startswith(NOT_BYTE_STABLE):
                    found[out["path"]] = out.get("md5")
    return found


def artifact_differences(before: dict, after: dict, profile: str) -> list[str]:
    """The artifact paths whose hash differs between two dvc.lock files, or that either lacks or has no hash
    for (a missing hash is never taken as a match)."""
    a, b = artifact_hashes(before, profile), artifact_hashes(after, profile)
    return sorted(p for p in set(a) | set(b) if a.get(p) is None or a.get(p) != b.get(p))
