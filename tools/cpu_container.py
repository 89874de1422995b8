"""`make image-cpu` and `make deploy RUNTIME=container`: the cpu profile's whole pipeline inside the
project's own image (docker/cpu), through podman or docker.

    python -m tools.cpu_container build                      # the image (reused while its inputs are unchanged)
    python -m tools.cpu_container deploy --profile cpu       # dvc repro tables@cpu inside it

The container gets the checkout mounted at its own path, the invoking user's uid:gid, the host network
(servers listen on 127.0.0.1 only) and the published documents read-only. Every measured row says
`container runtime: <image>`. Afterwards the artifacts' hashes (data .. repos) are compared with the
committed dvc.lock: a container run on any x86-64 host must reproduce them byte for byte.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from repro import paths
from repro.containers import local_image
from repro.containers.engine import ENGINES, Engine
from repro.errors import UserError
from repro.measure.host import CONTAINER_IMAGE_ENV
from repro.params import load_params
from repro.profiles.catalog import get_profile
from repro.serving.server import die_with_parent

DEBIAN_PACKAGES = ("podman", "runc", "mmdebstrap")   # shared/notes/containers.md: crun fails on these VMs
NAME_PREFIX = "repro-cpu-"                            # containers this tool starts: repro-cpu-<launcher pid>


def say(message: str) -> None:
    print(f"[container] {message}", flush=True)


def works(engine: str) -> bool:
    """Whether ``<engine> info`` answers (docker: its daemon runs), with the configuration it will run with."""
    try:
        env = Engine(engine, Path.cwd()).environment()
        return subprocess.run([engine, "info"], capture_output=True, timeout=60, env=env).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def install_packages(packages: list[str]) -> None:
    """Install Debian packages where this user may (root with apt-get); else say how."""
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise UserError(f"{', '.join(packages)} not installed and this user cannot install them; run "
                        f"`sudo apt-get install -y --no-install-recommends {' '.join(DEBIAN_PACKAGES)}` "
                        "(or install docker), then re-run.")
    say(f"installing {', '.join(packages)} (Debian packages, about 15 s)")
    for argv in (["apt-get", "update", "-qq"],
                 ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]):
        done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
        if done.returncode != 0:
            raise UserError(f"`{' '.join(argv)}` failed (exit {done.returncode}): {done.stderr.strip()[-400:]}")


def choose_engine(preference: str) -> str:
    """params `containers.engine`: auto = docker where its daemon answers, else podman (installed when
    missing and this user may)."""
    for name in (ENGINES if preference == "auto" else (preference,)):
        if shutil.which(name) and works(name):
            return name
    if preference in ("auto", "podman"):
        missing = [p for p in DEBIAN_PACKAGES if shutil.which(p) is None]
        if missing:
            install_packages(missing)
        if works("podman"):
            return "podman"
    raise UserError(f"no working container engine ({preference}): `{preference if preference != 'auto' else 'podman'} "
                    "info` fails; see shared/notes/containers.md for podman on a VM (runc, cgroupfs).")


def engine_call(engine: Engine, argv: list[str], what: str, quiet: bool = True) -> str:
    done = subprocess.run(argv, env=engine.environment(), text=True,
                          capture_output=quiet, stdout=None if quiet else sys.stderr)
    if done.returncode != 0:
        tail = (done.stderr or "").strip()[-800:] if quiet else "see the output above"
        raise UserError(f"{what} failed (exit {done.returncode}): {tail}")
    return (done.stdout or "").strip() if quiet else ""


def image_id(engine: Engine, tag: str) -> str | None:
    done = subprocess.run([engine.name, "image", "inspect", "--format", "{{.Id}}", tag], env=engine.environment(),
                          capture_output=True, text=True)
    return done.stdout.strip().removeprefix("sha256:") if done.returncode == 0 else None


def ensure_base(engine: Engine) -> None:
    if image_id(engine, local_image.BASE_TAG):
        return
    if shutil.which("mmdebstrap") is None:
        install_packages(["mmdebstrap"])
    cas = sorted(local_image.CA_DIR.glob("*.crt")) if local_image.CA_DIR.is_dir() else []
    with tempfile.TemporaryDirectory(prefix="repro-rootfs-") as tmp:
        tar = Path(tmp) / "rootfs.tar"
        say(f"making the Debian {local_image.SUITE} base from {local_image.MIRROR} with mmdebstrap (about 30 s)")
        engine_call(engine, local_image.rootfs_command(tar, cas), "mmdebstrap")
        engine_call(engine, [engine.name, "import", str(tar), local_image.BASE_TAG], f"{engine.name} import")
    say(f"base image {local_image.BASE_TAG} ready")


def host_pip_settings() -> dict[str, str]:
    done = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True)
    return local_image.parse_pip_config_list(done.stdout) if done.returncode == 0 else {}


def build(engine: Engine) -> str:
    """The image's tag, built when no image of that tag exists."""
    files = local_image.context_files()
    missing = [str(p) for p in files.values() if not p.exists()]
    if missing:
        raise UserError(f"the image's inputs are missing ({', '.join(missing)}); run `make setup` first.")
    tag = local_image.image_tag(files)
    if image_id(engine, tag):
        say(f"image {tag} is up to date")
        return tag
    ensure_base(engine)
    pip_conf, sources = local_image.pip_sources(host_pip_settings())
    with tempfile.TemporaryDirectory(prefix="repro-image-") as tmp:
        context = Path(tmp) / "context"
        for name, src in files.items():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, context / name)
        (Path(tmp) / "pip.conf").write_text(pip_conf)
        volumes = {Path(tmp) / "pip.conf": "/opt/repro/pip.conf", **{p: str(p) for p in sources}}
        say(f"building {tag} from docker/cpu/Dockerfile (installs requirements.lock: a few minutes the first time)")
        engine_call(engine, engine.build(tag, context, {"BASE_IMAGE": local_image.BASE_TAG}, volumes),
                    f"{engine.name} build", quiet=False)
    say(f"image {tag} built")
    return tag


def sweep_stale(engine: Engine) -> None:
    """Remove containers this tool started from a launcher that is gone (killed before it could)."""
    names = engine_call(engine, [engine.name, "ps", "-a", "--format", "{{.Names}}"], f"{engine.name} ps").split()
    for name in names:
        pid = name.removeprefix(NAME_PREFIX)
        if name.startswith(NAME_PREFIX) and pid.isdigit() and not Path(f"/proc/{pid}").exists():
            subprocess.run([engine.name, "rm", "-f", name], env=engine.environment(), capture_output=True)


def run_in_image(engine: Engine, tag: str, command: str, mounts: list[Path]) -> int:
    """``command`` (bash) in the image on the checkout; the container is removed on any exit of this process."""
    seeds = paths.SEEDS.resolve()
    ro = {p: str(p) for p in [*mounts, *([seeds] if seeds.is_dir() else [])]}
    env = {"HOME": "/tmp", "PYTHONPATH": str(engine.workspace), "REPRO_SEEDS": str(seeds),
           CONTAINER_IMAGE_ENV: f"{tag} ({engine.name} image {(image_id(engine, tag) or '?')[:12]})",
           "GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "safe.directory", "GIT_CONFIG_VALUE_0": "*"}
    name = f"{NAME_PREFIX}{os.getpid()}"
    argv = engine.run(tag, ["bash", "-c", command], mounts=ro, name=name, env=env, gpu=False, gpu_ulimits=False)
    say(f"running in {tag}: {command}")
    sweep_stale(engine)
    proc = subprocess.Popen(argv, env=engine.environment(), preexec_fn=die_with_parent)
    try:
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        subprocess.run([engine.name, "rm", "-f", name], env=engine.environment(), capture_output=True)


def report_identity(workspace: Path, profile: str) -> bool:
    """Compare the artifacts' hashes in dvc.lock with git HEAD's; print the verdict."""
    head = subprocess.run(["git", "show", "HEAD:dvc.lock"], cwd=workspace, capture_output=True, text=True)
    lock = workspace / "dvc.lock"
    if head.returncode != 0 or not lock.exists():
        say("no committed dvc.lock to compare the artifacts with")
        return True
    differ = local_image.artifact_differences(yaml.safe_load(head.stdout), yaml.safe_load(lock.read_text()), profile)
    if differ:
        say(f"artifacts that differ from the committed dvc.lock: {', '.join(differ)}")
        return False
    say(f"data, checkpoints, converted models, engines and repos@{profile}: byte-identical to the committed dvc.lock")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("build", "deploy"))
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--params", type=Path, default=paths.ROOT / "params.yaml")
    parser.add_argument("--workspace", type=Path, default=paths.ROOT, help="the checkout to run in (mounted)")
    parser.add_argument("--mount", type=Path, action="append", default=[],
                        help="another host folder the run reads (mounted read-only at its own path)")
    args = parser.parse_args(argv)
    try:
        return run(args)
    except UserError as exc:
        print(f"container: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("container: interrupted; the container is removed, earlier results are unchanged.", file=sys.stderr)
        return 130


def run(args: argparse.Namespace) -> int:
    params = load_params(args.params)
    engine = Engine(choose_engine(params["containers"]["engine"]), args.workspace.resolve(),
                    shm_size=params["containers"]["shm_size"], gpu=False)
    if args.action == "build":
        build(engine)
        return 0
    profile = get_profile(params, args.profile)
    if profile.runtime != "local" or profile.device != "cpu":
        raise UserError(f"profile '{profile.name}' ({profile.label}) does not run in the project's cpu image; "
                        f"RUNTIME=container runs a cpu profile (make deploy RUNTIME=container). "
                        f"The published hardware: `make deploy-{profile.name} DRY_RUN=1`.")
    tag = build(engine)
    rc = run_in_image(engine, tag, local_image.pipeline_command(profile.name), args.mount)
    if rc != 0:
        raise UserError(f"the pipeline inside {tag} failed (exit {rc}); earlier results are kept. The output above "
                        "names the stage.")
    same = report_identity(engine.workspace, profile.name)
    say(f"results: results/{profile.name}/ (every row: container runtime: {tag})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
