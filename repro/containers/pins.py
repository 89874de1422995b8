"""docker/pins.yaml: every image by tag AND digest, with where the digest came from (schema + loader)."""
from __future__ import annotations

from pathlib import Path
from typing import Literal, Optional

import yaml
from pydantic import Field, ValidationError, model_validator

from repro import paths
from repro.errors import UserError
from repro.profiles.catalog import Strict

PINS = paths.ROOT / "docker" / "pins.yaml"
DIGEST = r"^sha256:[0-9a-f]{64}$"


class Pin(Strict):
    image: str = Field(min_length=1)
    tag: str = Field(min_length=1)
    digest: Optional[str] = Field(default=None, pattern=DIGEST)
    status: Literal["verified", "unverified", "unresolved", "local"]
    source: str = Field(min_length=1)
    used_by: str = Field(min_length=1)

    @model_validator(mode="after")
    def digest_matches_status(self) -> "Pin":
        if (self.digest is None) != (self.status in ("unresolved", "local")):
            raise ValueError("a digest goes with status verified or unverified, no digest with unresolved or local")
        return self

    @property
    def reference(self) -> str:
        """What to pull: tag@digest where a digest is known, else the tag alone."""
        return f"{self.image}:{self.tag}" + (f"@{self.digest}" if self.digest else "")


class Pins(Strict):
    images: dict[str, Pin]


def load_pins(path: Path = PINS) -> Pins:
    try:
        return Pins.model_validate(yaml.safe_load(path.read_text()))
    except FileNotFoundError:
        raise UserError(f"{path} is missing; restore it from git (`git checkout -- {path.name}`).") from None
    except ValidationError as exc:
        where = "; ".join(f"'{'.'.join(map(str, e['loc']))}': {e['msg']}" for e in exc.errors())
        raise UserError(f"{path}: {where}; fix the entry (see the comments at the top of the file).") from None
