"""Dataset/model size presets. 4B and 22B carry the real 26 Criteo cardinalities (frequency
thresholds 15 and 3); tiny and small cap them so the pipeline runs on a laptop-class CPU."""
from __future__ import annotations

from dataclasses import dataclass

EMBEDDING_DIM = 128
NUM_NUMERICAL = 13

CARDINALITIES_4B = (7912889, 33823, 17139, 7339, 20046, 4, 7105, 1382, 63, 5554114, 582469, 245828, 11, 2209,
                    10667, 104, 4, 968, 15, 8165896, 2675940, 7156453, 302516, 12022, 97, 35)
CARDINALITIES_22B = (45833188, 36747, 1572176, 345139, 11, 2209, 11268, 128, 4, 975, 15, 48937457, 17246,
                     11316796, 40094537, 452104, 12607, 105, 36, 7414, 20244, 4, 7115, 1442, 63, 29275261)


@dataclass(frozen=True)
class Preset:
    name: str
    cardinalities: tuple[int, ...]
    train_samples: int
    test_samples: int
    embedding_dim: int = EMBEDDING_DIM

    @property
    def parameters(self) -> int:
        return sum(self.cardinalities) * self.embedding_dim

    def table_bytes(self, bytes_per_value: int) -> list[int]:
        return [rows * self.embedding_dim * bytes_per_value for rows in self.cardinalities]


def capped(cardinalities: tuple[int, ...], cap: int) -> tuple[int, ...]:
    return tuple(min(c, cap) for c in cardinalities)


PRESETS: dict[str, Preset] = {
    "tiny": Preset("tiny", capped(CARDINALITIES_4B, 200), train_samples=8192, test_samples=2048),
    "small": Preset("small", capped(CARDINALITIES_4B, 4000), train_samples=131072, test_samples=16384),
    "4B": Preset("4B", CARDINALITIES_4B, train_samples=65536, test_samples=65536),
    "22B": Preset("22B", CARDINALITIES_22B, train_samples=65536, test_samples=65536),
}


def get_preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown data preset '{name}' (params.yaml: data.preset); choose one of {sorted(PRESETS)}")
    return PRESETS[name]
