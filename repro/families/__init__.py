"""Model families: what is served. One folder per family (``repro/families/<name>/``) behind the
interface in ``repro.families.base``; the registry below is the only list of families."""
from __future__ import annotations

from functools import cache

from repro.errors import UserError
from repro.families.base import Family


@cache
def registry() -> dict[str, Family]:
    """Family name -> family. Imported lazily: a family loads its framework only when a stage needs it."""
    from repro.families.criteo.family import CRITEO
    from repro.families.imagenet.family import IMAGENET
    from repro.families.outbrain.family import OUTBRAIN
    return {family.name: family for family in (CRITEO, OUTBRAIN, IMAGENET)}


def get_family(name: str) -> Family:
    families = registry()
    if name not in families:
        raise UserError(f"unknown model family '{name}' (params.yaml: models); families: {sorted(families)}")
    return families[name]


def all_models() -> dict[str, str]:
    """Every model any family serves -> its family name."""
    return {model: family.name for family in registry().values() for model in family.models}


def family_of(params: dict, model: str) -> Family:
    """The family of one model named in params.yaml's ``models`` map."""
    if model not in params["models"]:
        raise UserError(f"model '{model}' is not in params.yaml 'models' ({sorted(params['models'])}); add it there")
    return get_family(params["models"][model])


def families_in_use(params: dict) -> list[Family]:
    """The families of the models params.yaml selects, in registry order."""
    wanted = set(params["models"].values())
    return [family for name, family in registry().items() if name in wanted]


def served_models(params: dict, profile, only: list[str] | None = None) -> list[str]:
    """The models of params.yaml that the profile serves (a family with ``flavour: none`` is skipped there);
    ``only``: just these of them (each must be served)."""
    served = [model for model, family in params["models"].items() if profile.serves(family)]
    if only is None:
        return served
    unknown = sorted(set(only) - set(served))
    if unknown:
        raise UserError(f"--models {','.join(unknown)}: not served on profile {profile.name} (served: {', '.join(served)})")
    return [m for m in served if m in only]
