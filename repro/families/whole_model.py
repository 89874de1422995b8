"""The python-cpu flavour's one shape, shared by the families that serve a whole model in one python-backend
model (Wide & Deep, ResNet50): its settings and its repository writer."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from repro.families.criteo.repository import link_tree, write_config
from repro.serving import model_config as mcfg
from repro.serving.model_config import Tensor


@dataclass(frozen=True)
class LocalSettings:
    engine: str                 # the family's engine name (W&D: onnxruntime | tensorflow; ResNet50: onnxruntime | torchscript)
    max_batch_size: int
    preferred_batch: int
    instances: int
    instance_kind: str
    threads: int


def write_whole_model(repo: Path, name: str, s: LocalSettings, io: tuple[list[Tensor], list[Tensor]], source: str,
                      artifact: Path, filename: str) -> list[str]:
    """``repo/<name>``: config (the engine and its thread count as parameters, dynamic batching), ``model.py``
    (``source``) and the converted ``artifact`` linked in as ``filename``."""
    config = mcfg.python_model(name, s.max_batch_size, *io, s.instances, s.instance_kind,
                               {"engine": s.engine, "intra_op_threads": str(s.threads)})
    mcfg.add_dynamic_batching(config, [s.preferred_batch])
    write_config(repo / name, config)
    (repo / name / "1" / "model.py").write_text(source)
    link_tree(artifact, repo / name / "1" / filename)
    return [name]
