"""`make pin-images`: re-resolve every image digest in docker/pins.yaml where a registry is reachable.

Tries skopeo, crane and docker (buildx imagetools), in that order, for each image's tag. A resolved digest
is written with status `verified` and the tool and date as its source; where no tool is installed or the
registry cannot be reached, the entry stays as it was and the reason is printed. Never invents a digest.
Exit 0 when every image was verified, 1 when some could not be (the file is still updated for the rest).

    python -m tools.pin_images [--pins docker/pins.yaml] [--timeout 60]
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from repro import atomic
from repro.containers.pins import DIGEST, PINS, load_pins
from repro.errors import UserError

RESOLVERS = {
    "skopeo": lambda ref: ["skopeo", "inspect", "--format", "{{.Digest}}", f"docker://{ref}"],
    "crane": lambda ref: ["crane", "digest", ref],
    "docker": lambda ref: ["docker", "buildx", "imagetools", "inspect", ref, "--format", "{{json .Manifest.Digest}}"],
}


def resolve(ref: str, timeout: float) -> tuple[str | None, str]:
    """(digest, how) or (None, why not)."""
    reasons = []
    for tool, command in RESOLVERS.items():
        if shutil.which(tool) is None:
            reasons.append(f"{tool} not installed")
            continue
        try:
            out = subprocess.run(command(ref), capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            reasons.append(f"{tool} timed out after {timeout:g} s")
            continue
        digest = out.stdout.strip().strip('"')
        if out.returncode == 0 and re.match(DIGEST, digest):
            return digest, f"resolved from the registry by {tool} on {dt.date.today().isoformat()}"
        reasons.append(f"{tool}: {(out.stderr.strip().splitlines() or ['exit ' + str(out.returncode)])[0]}")
    return None, "; ".join(reasons)


def header(path: Path) -> str:
    """The comment block at the top of the pins file, kept as written."""
    lines = path.read_text().splitlines(keepends=True)
    return "".join(line for line in lines[:next(i for i, l in enumerate(lines) if not l.startswith("#"))])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pins", type=Path, default=PINS)
    parser.add_argument("--timeout", type=float, default=60.0)
    a = parser.parse_args(argv)
    try:
        pins = load_pins(a.pins)
    except UserError as exc:
        print(f"pin-images: error: {exc}", file=sys.stderr)
        return 2
    data, unverified = json.loads(pins.model_dump_json()), []
    for name, pin in pins.images.items():
        ref = f"{pin.image}:{pin.tag}"
        if pin.status == "local":      # built on this machine from Debian's packages: no registry digest exists
            print(f"[pin-images] {ref}: built locally ({pin.used_by}); nothing to resolve", file=sys.stderr)
            continue
        digest, how = resolve(ref, a.timeout)
        if digest is None:
            unverified.append(name)
            print(f"[pin-images] {ref}: not verified, kept as {pin.status} ({how})", file=sys.stderr)
            continue
        changed = "" if digest == pin.digest else f" (was {pin.digest or 'unresolved'})"
        data["images"][name].update(digest=digest, status="verified", source=how)
        print(f"[pin-images] {ref}: {digest}{changed}", file=sys.stderr)
    if data != json.loads(pins.model_dump_json()):
        atomic.write_text(a.pins, header(a.pins) + yaml.safe_dump(data, sort_keys=False, width=110))
    if unverified:
        print(f"[pin-images] {len(unverified)} of {sum(p.status != 'local' for p in pins.images.values())} registry images not verified here: {', '.join(unverified)}; "
              "run `make pin-images` on a host that reaches nvcr.io", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
