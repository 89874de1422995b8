"""Profiles as data: each entry of params.yaml's `profiles` names its runtime, device, the serving
flavour of each family, its repository settings and its measurement sweeps. The stages read the
profile they are given (`--profile`); one chain of DVC stages runs per profile (dvc.yaml foreach)."""
from __future__ import annotations

import os
import platform
import typing
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field

from repro.errors import UserError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


PositiveInts = list[typing.Annotated[int, Field(gt=0)]]


class Repos(Strict):
    max_batch_size: int = Field(gt=0)
    instances: int = Field(gt=0)
    mount: str = Field(default="/models", pattern=r"^/")   # where a container flavour's repository is mounted


class Online(Strict):
    batch_size: int = Field(gt=0)
    concurrency: PositiveInts = Field(min_length=1)


class FamilyPerf(Strict):
    """``perf.families.<family>``: a family's own sweeps where they differ from the profile's (the published
    W&D sweeps are not the DLRM ones); keys left out come from the profile's ``perf``."""
    scenarios: Optional[list[Literal["offline", "online"]]] = Field(default=None, min_length=1)
    batch_sizes: Optional[PositiveInts] = Field(default=None, min_length=1)
    online: Optional[Online] = None
    max_batch_size: Optional[int] = Field(default=None, gt=0)   # the family's repositories (default: repos')
    note: str = ""              # why this profile's sweep differs from the published one (in the table heading)


class Perf(Strict):
    scenarios: list[Literal["offline", "online"]] = Field(default=["offline"], min_length=1)
    batch_sizes: PositiveInts = Field(min_length=1)           # offline sweep
    online: Optional[Online] = None                            # online sweep
    concurrency: int = Field(gt=0)
    measurement_interval_ms: int = Field(gt=0)
    stability_percentage: float = Field(ge=0)
    max_trials: int = Field(gt=0)
    retries: int = Field(ge=0)
    max_cv: float = Field(default=0.10, gt=0)   # windows' spread above this: the row is not called stable
    min_windows: int = Field(default=4, ge=1)   # fewer windows than this: up to 2 more perf_analyzer runs add theirs
    families: dict[str, FamilyPerf] = {}        # per-family sweeps (see FamilyPerf)


class Native(Strict):
    models: list[str]
    batch_sizes: PositiveInts = Field(min_length=1)


def profile_model(serving: dict[str, Any]) -> type[BaseModel]:
    """The schema of one profile; ``serving`` holds each family's flavour model (its own options)."""
    from pydantic import create_model
    serving_model = create_model("Serving", __base__=Strict, **{name: (Optional[m], None) for name, m in serving.items()})
    return create_model("Profile", __base__=Strict,
                        runtime=(Literal["local", "bundle", "container"], ...), device=(Literal["cpu", "gpu"], ...),
                        hardware=(str, ...), serving=(serving_model, ...), repos=(Repos, ...), perf=(Perf, ...),
                        native=(Optional[Native], None))


class Profile:
    """One validated entry of params.yaml's `profiles`."""

    def __init__(self, name: str, data: dict):
        self.name, self.data = name, data
        self.runtime: str = data["runtime"]
        self.device: str = data["device"]
        self.hardware: str = data["hardware"]
        self.repos: dict = data["repos"]
        self.perf: dict = data["perf"]
        self.native: dict | None = data.get("native")

    def serving(self, family: str) -> dict:
        found = self.data["serving"].get(family)
        if found is None:
            raise UserError(f"params.yaml: 'profiles.{self.name}.serving.{family}' is missing: say which flavour "
                            f"serves the {family} family on this profile.")
        return found

    def serves(self, family: str) -> bool:
        """Whether this profile serves the family (``flavour: none``: its models are skipped here)."""
        return self.serving(family)["flavour"] != "none"

    def perf_for(self, family: str) -> dict:
        """The profile's perf settings with the family's own sweeps (``perf.families.<family>``) applied."""
        override = {k: v for k, v in (self.perf.get("families") or {}).get(family, {}).items() if v is not None}
        return {**{k: v for k, v in self.perf.items() if k != "families"},
                "max_batch_size": self.repos["max_batch_size"], "note": "", **override}

    @property
    def instance_kind(self) -> str:
        return "KIND_GPU" if self.device == "gpu" else "KIND_CPU"

    @property
    def device_label(self) -> str:
        if self.device == "cpu":
            return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"
        return self.hardware

    @property
    def label(self) -> str:
        return self.label_in(None)

    def label_in(self, container: str | None) -> str:
        """``cpu (CPU; local runtime)``; run inside the project's image: ``(...; container runtime: <image>)``."""
        what = self.hardware or self.device.upper()
        return f"{self.name} ({what}; {f'container runtime: {container}' if container else f'{self.runtime} runtime'})"


def all_profiles(params: dict) -> dict[str, dict]:
    """Every profile: params.yaml's `profiles` (a DVC chain each) and `containers.profiles` (the published
    hardware, run inside upstream's pinned images)."""
    return {**params["profiles"], **(params.get("containers") or {}).get("profiles", {})}


def get_profile(params: dict, name: str) -> Profile:
    profiles = all_profiles(params)
    if name not in profiles:
        raise UserError(f"unknown profile '{name}'; the profiles in params.yaml are {sorted(profiles)} "
                        "(make deploy-<profile>).")
    return Profile(name, profiles[name])
