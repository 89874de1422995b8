"""The repro modules a python-backend model of a GPU flavour carries in its version directory (the stub
imports them from there: the GPU host has no checkout on its path), shared by every family's writer."""
from __future__ import annotations

import shutil
from pathlib import Path

from repro import paths

# The GPU engines and their parents, relative to repro/: what every GPU flavour's model.py imports.
ENGINE_MODULES = ("__init__.py", "engines/__init__.py", "engines/placement.py", "engines/gpu_kernels.py",
                  "engines/gpu_tables.py", "engines/onnx_engine.py", "engines/torch_serving.py")


def write_python_version(version: Path, script: Path, modules: tuple[str, ...], families_doc: str | None = None) -> None:
    """``version/model.py`` from ``script`` and ``version/repro/<module>`` for each of ``modules``. A family's own
    modules come with ``families_doc``: a one-line ``repro/families/__init__.py`` in place of the real one, which
    imports the whole family registry (pydantic, profiles) the model does not need."""
    version.mkdir(parents=True, exist_ok=True)
    shutil.copy(script, version / "model.py")
    for module in modules:
        (version / "repro" / module).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(paths.ROOT / "repro" / module, version / "repro" / module)
    if families_doc is not None:
        (version / "repro" / "families" / "__init__.py").write_text(f'"""{families_doc}"""\n')
