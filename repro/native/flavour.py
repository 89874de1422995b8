"""The native C++ backend as a serving flavour beside a family's python-backend flavour on a GPU host: the
backends a profile lists (``profiles.<p>.serving.<family>.backends``), the served name of a model on the
native one (``<name>_cpp``), and making its models ready on the serving host before the server starts (the
backend library compiled there, and for ``repro_torch`` the family's engine written by ``write_engine``)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

NATIVE = "cpp"
BACKEND_LABELS = {"python": "the python backend", NATIVE: "the native C++ backend"}


def backends(options: dict) -> list[str]:
    return list(options.get("backends", ["python"]))


def served_name(name: str, backend: str) -> str:
    return name if backend == "python" else f"{name}_{backend}"


def is_native(name: str) -> bool:
    return name.endswith(f"_{NATIVE}")


def described(options: dict) -> str:
    """"the python backend and the native C++ backend", as the accuracy notes say which served."""
    return " and ".join(BACKEND_LABELS[b] for b in backends(options))


def prepare_models(repo: Path, names: list[str], write_engine: Callable[[Path, str], object]) -> None:
    """The native models among ``names`` made ready on this host: the backend library its config names built
    into the model folder and, for repro_torch, ``write_engine(version, device)`` writing engine.pt."""
    from repro.cli import progress
    from repro.native import repository as native
    from repro.serving.model_config import from_pbtxt
    for name in names:
        if not is_native(name):
            continue
        backend = from_pbtxt((repo / name / "config.pbtxt").read_text()).backend
        progress("native", f"{name}: building the native backend {backend} and writing its engine on this host")
        native.prepare(repo / name, write_engine if backend == native.BACKEND else lambda version, device: None, backend)
