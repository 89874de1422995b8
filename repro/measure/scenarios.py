"""Measurement scenarios, as the published tables define them:

offline  a static batch sweep at concurrency 1 (DLRM, DCNv2, W&D and ResNet50 offline tables);
online   a concurrency sweep at one batch size, the server batching requests dynamically
         (W&D and ResNet50 online tables).

A scenario is a list of (batch, concurrency) points; every point is measured the same way (the same
stability handling, retries and repeated samples), and its rows go to the table ``table_name``."""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase


@dataclass(frozen=True)
class Scenario:
    name: str
    points: tuple[tuple[int, int], ...]     # (batch, concurrency), in measuring order

    def table_name(self, served: str) -> str:
        """Offline rows keep the served model's name (the tables compare matches); others get a suffix."""
        return served if self.name == "offline" else f"{served}_{self.name}"


def point_name(table: str, batch: int, concurrency: int) -> str:
    """File stem of one measured point (raw CSV, log, samples)."""
    return f"{table}_b{batch}" + ("" if concurrency == 1 else f"_c{concurrency}")


@dataclass(frozen=True)
class Selection:
    """The points one run measures (a time-limited host measures a sweep in parts): fnmatch patterns
    over table names (``widedeep_gpu_fp16*``) or point names (``*_online_b2048_c1[0-9][0-9]``); none: all."""
    patterns: tuple[str, ...] | None = None

    @classmethod
    def parse(cls, text: str | None) -> "Selection":
        return cls(tuple(p for p in text.split(",") if p) if text else None)

    @property
    def partial(self) -> bool:
        return self.patterns is not None

    def __call__(self, table: str, batch: int, concurrency: int) -> bool:
        if self.patterns is None:
            return True
        point = point_name(table, batch, concurrency)
        return any(fnmatchcase(table, p) or fnmatchcase(point, p) for p in self.patterns)


def offline(batch_sizes: list[int], concurrency: int = 1) -> Scenario:
    return Scenario("offline", tuple((b, concurrency) for b in batch_sizes))


def online(batch_size: int, concurrency: list[int]) -> Scenario:
    return Scenario("online", tuple((batch_size, c) for c in concurrency))


def from_params(perf: dict, supported: tuple[str, ...]) -> list[Scenario]:
    """The scenarios a profile's ``perf.scenarios`` asks for that a family publishes."""
    built = {"offline": lambda: offline(perf["batch_sizes"], perf["concurrency"]),
             "online": lambda: online(perf["online"]["batch_size"], perf["online"]["concurrency"])}
    return [built[name]() for name in perf.get("scenarios", ["offline"]) if name in supported]
