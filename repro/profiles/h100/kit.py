"""The kit a GPU host without DVC or a package index needs for `make deploy-h100`: dist/h100/ (the
runtime bundle for the host's Python, and the client wheels it lacks, pinned as in requirements.lock),
carried with triton_repos/h100/ (the profile's repositories, written here by `dvc repro repos@h100`:
dense graphs, one repository per configuration, the accuracy gate). Under 64 MiB with the checkout.

`unpack` (on the GPU host): the bundle into .h100/runtime, the wheels into .h100/site (no index).
"""
from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from repro import paths

CARRY_LIMIT = 64 * 2**20
# What the GPU host lacks, carried as wheels: the Triton client, and pydantic for the params schema.
CLIENT_WHEELS = ("tritonclient", "grpcio", "protobuf", "python-rapidjson", "pydantic", "pydantic_core",
                 "annotated-types", "typing-inspection", "typing_extensions")
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64")


def locked_version(package: str, lock: Path) -> str:
    for line in lock.read_text().splitlines():
        if line.lower().startswith(f"{package.lower()}=="):
            return line.split("==", 1)[1].strip()
    raise ValueError(f"{lock}: no pin for {package}; run `make lock`")


def download_wheels(dest: Path, python: str, lock: Path) -> list[Path]:
    dest.mkdir(parents=True, exist_ok=True)
    specs = [f"{p}=={locked_version(p, lock)}" for p in CLIENT_WHEELS]
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
           python, "--implementation", "cp", *[a for p in PLATFORMS for a in ("--platform", p)], "-d", str(dest), *specs]
    subprocess.run(cmd, check=True)
    return sorted(dest.glob("*.whl"))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def carried_files(repos: Path, parts: list[str] | None) -> list[Path]:
    """The repository files the kit carries: all of them, or only ``parts`` (top-level folders of ``repos``, e.g.
    ``widedeep,resnet50``; the criteo family's are ``graphs``, ``gate`` and ``perf``) and its manifest.json."""
    if not parts:
        return sorted(p for p in repos.rglob("*") if p.is_file())
    known = sorted(p.name for p in repos.iterdir() if p.is_dir())
    unknown = [part for part in parts if part not in known]
    if unknown:
        raise SystemExit(f"h100-kit: PARTS={','.join(parts)}: {repos} has no folder {', '.join(unknown)}; "
                         f"choose among {', '.join(known)}")
    return [repos / "manifest.json", *sorted(p for part in parts for p in (repos / part).rglob("*") if p.is_file())]


def build(out: Path, python: str, repos: Path, parts: list[str] | None = None) -> dict:
    from repro.serving.runtime import write_bundle
    from repro.report.measured import git_commit
    if not (repos / "manifest.json").exists():
        raise SystemExit(f"h100-kit: {repos}/manifest.json is missing: run `dvc repro repos@h100` first")
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    print(f"[h100-kit] runtime bundle for Python {python} ...", file=sys.stderr, flush=True)
    write_bundle(paths.WHEEL_CACHE, python, out / f"triton-runtime-py{python}.tar.xz")
    download_wheels(out / "wheels", python, paths.ROOT / "requirements.lock")
    files = {str(p.relative_to(out)): {"bytes": p.stat().st_size, "sha256": sha256(p)}
             for p in sorted(out.rglob("*")) if p.is_file()}
    carried = {str(p.relative_to(repos)): {"bytes": p.stat().st_size, "sha256": sha256(p)}
               for p in carried_files(repos, parts)}
    total = sum(f["bytes"] for f in files.values()) + sum(f["bytes"] for f in carried.values())
    manifest = {"python": python, "total_bytes": total, "source": git_commit(paths.ROOT), "files": files,
                "repositories": {"path": str(repos.relative_to(paths.ROOT)) if repos.is_relative_to(paths.ROOT)
                                 else str(repos), "files": carried}}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    checkout = tracked_bytes(paths.ROOT)
    shown = [out, *([repos / "manifest.json", *(repos / part for part in parts)] if parts else [repos])]
    print(f"[h100-kit] {', '.join(map(str, shown))}: {total / 2**20:.1f} MiB in {len(files) + len(carried)} files, "
          f"{(total + checkout) / 2**20:.1f} MiB with the checkout's tracked files (carry limit: "
          f"{CARRY_LIMIT / 2**20:.0f} MiB); carry these paths with the checkout", file=sys.stderr)
    total += checkout
    if total > CARRY_LIMIT:
        print(f"[h100-kit] warning: {total / 2**20:.1f} MiB with the checkout exceeds the {CARRY_LIMIT / 2**20:.0f} MiB "
              "a lent GPU machine takes in one call: pack only the models one run measures, e.g. "
              "make h100-kit PARTS=widedeep,resnet50", file=sys.stderr)
    return manifest


def tracked_bytes(root: Path) -> int:
    """Bytes of the files git tracks in the checkout (they travel with the kit)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True)
    if listed.returncode != 0:
        return 0
    return sum((root / name).stat().st_size for name in listed.stdout.split("\0") if name and (root / name).is_file())


def check_repositories(kit: Path, root: Path) -> None:
    """The carried repositories are the ones the kit was built with (same files, same bytes)."""
    manifest = json.loads((kit / "manifest.json").read_text())["repositories"]
    repos = root / manifest["path"]
    bad = [name for name, f in manifest["files"].items()
           if not (repos / name).is_file() or sha256(repos / name) != f["sha256"]]
    if bad:
        raise SystemExit(f"deploy-h100: {repos} differs from the kit's manifest ({len(bad)} files, e.g. {bad[0]}): "
                         "carry the triton_repos/h100 that `make h100-kit` packed with dist/h100")


def unpack(kit: Path, work: Path) -> None:
    """Idempotent: the runtime and the wheels are installed once per kit manifest."""
    manifest = kit / "manifest.json"
    if not manifest.exists():
        raise SystemExit(f"deploy-h100: {manifest} is missing. Build the kit with `make h100-kit` on a machine with "
                         "the full environment (after `make deploy`) and carry dist/h100/ to this host.")
    stamp = work / "UNPACKED.json"
    if stamp.exists() and stamp.read_text() == manifest.read_text():
        return
    shutil.rmtree(work / "runtime", ignore_errors=True)
    shutil.rmtree(work / "site", ignore_errors=True)
    work.mkdir(parents=True, exist_ok=True)
    (bundle,) = kit.glob("triton-runtime-*.tar.xz")
    with tarfile.open(bundle) as tar:
        tar.extractall(work / "runtime", filter="tar")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--target", str(work / "site"),
                    *map(str, sorted((kit / "wheels").glob("*.whl")))], check=True)
    stamp.write_text(manifest.read_text())
    print(f"[deploy-h100] runtime and client wheels unpacked into {work}", file=sys.stderr)
