"""Wide & Deep's Outbrain feature spec (upstream ``data/outbrain/features.py``) and the data presets.

Every categorical feature has a hash-bucket count and a deep embedding dim; multi-hot features carry up
to ``MULTIHOT_WIDTH`` ids per sample, padded with ``PAD``. The served model takes 29 inputs named after
the features; its output is ``OUTPUT``."""
from __future__ import annotations

from dataclasses import dataclass

PAD = -1                 # padding of a multi-hot row (masked out of every sum)
MULTIHOT_WIDTH = 3       # ids per multi-hot row, as the Triton client sends them ([B, 3] int32)
OUTPUT = "wide_deep_model"
LABEL, GROUP = "clicked", "display_id"
DEEP_LAYERS = (1024,) * 5     # upstream: 5 x Dense(1024, relu) + Dropout(0.1), then Dense(1)
DROPOUT = 0.1
MAP_AT = 12                   # MAP@12, upstream's metric

# name: (hash buckets, embedding dim), upstream's values
ONEHOT = {
    "document_id": (300000, 128), "ad_id": (250000, 128), "document_id_promo": (100000, 128),
    "campaign_id": (5000, 128), "source_id_promo": (4000, 64), "source_id": (4000, 64),
    "geo_location": (2500, 64), "advertiser_id": (2500, 64), "geo_location_state": (2000, 64),
    "publisher_id_promo": (1000, 64), "publisher_id": (1000, 64), "geo_location_country": (300, 64),
    "platform": (4, 19),
}
MULTIHOT = {"topic_id_list": (350, 64), "entity_id_list": (10000, 64), "category_id_list": (100, 64)}
NUMERICAL = (
    "document_id_document_id_promo_sim_categories", "document_id_document_id_promo_sim_topics",
    "document_id_document_id_promo_sim_entities", "document_id_promo_ctr", "publisher_id_promo_ctr",
    "source_id_promo_ctr", "document_id_promo_count", "publish_time_days_since_published", "ad_id_ctr",
    "advertiser_id_ctr", "campaign_id_ctr", "ad_id_count", "publish_time_promo_days_since_published",
)
CATEGORICAL = {**ONEHOT, **MULTIHOT}
DEEP_ORDER = tuple(sorted(CATEGORICAL))     # upstream concatenates the deep embeddings sorted by name
INPUTS = (*NUMERICAL, *ONEHOT, *MULTIHOT)   # the 29 served inputs


def input_width(name: str) -> int:
    return MULTIHOT_WIDTH if name in MULTIHOT else 1


def input_dtype(name: str) -> str:
    """Triton data type of a served input."""
    return "FP32" if name in NUMERICAL else "INT32"


@dataclass(frozen=True)
class Preset:
    name: str
    bucket_divisor: int      # hash buckets = upstream's // divisor (at least 4): 1 is upstream's sizes
    train_displays: int
    valid_displays: int
    train_files: int
    valid_files: int         # upstream's valid split: 8 parquet files

    def buckets(self) -> dict[str, int]:
        return {name: max(4, size // self.bucket_divisor) for name, (size, _) in CATEGORICAL.items()}


PRESETS = {
    "tiny": Preset("tiny", 100, 600, 200, 2, 2),
    "small": Preset("small", 10, 24000, 4000, 4, 8),
    "full": Preset("full", 1, 60000, 8000, 8, 8),
}


def embedding_dims() -> dict[str, int]:
    return {name: dim for name, (_, dim) in CATEGORICAL.items()}


def deep_width() -> int:
    """Deep input width: the embeddings plus the numericals (upstream: 1235 + 13 = 1248)."""
    return sum(embedding_dims().values()) + len(NUMERICAL)
