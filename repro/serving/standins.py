"""Stand-ins for models whose backend cannot run here (tensorrt, hps, tensorflow_savedmodel without a
GPU): python-backend models with the identical name, batching and I/O, which return zeros of the
declared shape. A repository whose composing models are swapped for stand-ins loads in the real
Triton server exactly when its ensembles' wiring (names, types, shapes, batching) is consistent, which
is what Triton checks at load time; a request through each ensemble then checks the shapes at run time.
"""
from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from repro.serving.model_config import add_instances, from_pbtxt, to_pbtxt


def standin_repository(repo: Path, out: Path) -> list[str]:
    """Copy the configs of ``repo`` to ``out``, every non-ensemble model as a stand-in; returns the
    ensembles (what a client would call)."""
    shutil.rmtree(out, ignore_errors=True)
    source = resources.files("repro.serving.standin_model").joinpath("model.py").read_text()
    ensembles = []
    for config_path in sorted(repo.glob("*/config.pbtxt")):
        config = from_pbtxt(config_path.read_text())
        model_dir = out / config.name
        (model_dir / "1").mkdir(parents=True)
        if config.platform == "ensemble":
            ensembles.append(config.name)
        else:
            replaced = config.platform or config.backend
            config.ClearField("platform")
            config.backend = "python"
            config.ClearField("optimization")
            del config.instance_group[:]
            add_instances(config, 1, "KIND_CPU")
            config.parameters["standin_for"].string_value = replaced
            (model_dir / "1" / "model.py").write_text(source)
        (model_dir / "config.pbtxt").write_text(to_pbtxt(config))
    return ensembles
