"""params.yaml `containers`: how the published-hardware profiles run inside upstream's pinned images."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from repro.profiles.catalog import Strict


class TrtShapes(Strict):
    """trtexec's min / opt / max batch (upstream: 1 / --trt-optimal-batch-size 1024 / the max batch size)."""
    min: int = Field(gt=0)
    opt: int = Field(gt=0)
    max: int = Field(gt=0)

    @model_validator(mode="after")
    def ordered(self) -> "TrtShapes":
        if not self.min <= self.opt <= self.max:
            raise ValueError("needs min <= opt <= max")
        return self


class ContainerSettings(Strict):
    engine: Literal["auto", "docker", "podman"]
    shm_size: str = Field(pattern=r"^[0-9]+[kmg]$")
    horovod_np: int = Field(gt=0)                 # processes of the conversion under horovodrun (one per GPU)
    trt_shapes: TrtShapes
    server_args: list[str]                         # upstream's tritonserver flags (memory pools)
