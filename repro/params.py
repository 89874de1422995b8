"""Load and validate params.yaml against a typed schema (pydantic) before anything runs.

Unknown keys are rejected with the closest valid name, wrong types and values name their field, and
every error says what to do. Families contribute their own subsections (``data.<family>``,
``train.<family>``, ``convert.<family>``, ``accuracy.<family>``; repro.families.base)."""
from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Literal, Optional

import yaml
import typing

from pydantic import BaseModel, Field, ValidationError, create_model

from repro.compare.noise import CompareParams
from repro.containers.settings import ContainerSettings
from repro.errors import UserError
from repro.families import all_models, registry
from repro.profiles.catalog import Strict, profile_model

FAMILY_SECTIONS = ("data", "train", "convert", "accuracy")


class ParamsError(UserError):
    pass


def family_section(name: str, base_fields: dict[str, Any]) -> type[BaseModel]:
    """A stage section with one optional subsection per registered family."""
    fields = {**base_fields, **{family.name: (Optional[getattr(family.params, name)], None)
                                for family in registry().values()}}
    return create_model(name.capitalize(), __base__=Strict, **fields)


def schema() -> type[BaseModel]:
    profile = profile_model({f.name: f.params.serving for f in registry().values()})
    containers = create_model("Containers", __base__=ContainerSettings,
                              profiles=(dict[str, profile], Field(min_length=1)))
    return create_model(
        "Params", __base__=Strict,
        seed=(int, Field(gt=0)),
        models=(dict[str, str], Field(min_length=1)),
        data=(family_section("data", {}), ...),
        train=(family_section("train", {"threads": (int, Field(gt=0))}), ...),
        convert=(family_section("convert", {"precision": (Literal["fp32", "fp16"], ...)}), ...),
        accuracy=(family_section("accuracy", {}), ...),
        profiles=(dict[str, profile], Field(min_length=1)),
        containers=(containers, ...),
        compare=(CompareParams, ...))


def model_of(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside an annotation (``Optional[M]``, ``list[M]``), if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = model_of(arg)
        if found is not None:
            return found
    return None


def keys_at(model: type[BaseModel] | None, loc: tuple) -> list[str]:
    """The valid keys of the section at ``loc`` (list indices and mapping keys skipped)."""
    skip = False
    for part in loc:
        if model is None:
            return []
        if isinstance(part, int) or skip:
            skip = False
            continue
        field = model.model_fields.get(part)
        model = model_of(field.annotation) if field else None
        skip = field is not None and typing.get_origin(field.annotation) is dict
    return list(model.model_fields) if model else []


def dotted(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(error: dict, model: type[BaseModel]) -> str:
    loc, kind, value = tuple(error["loc"]), error["type"], error.get("input")
    where = f"params.yaml: '{dotted(loc)}'"
    if kind == "extra_forbidden":
        valid = keys_at(model, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        hint = f"did you mean '{dotted((*loc[:-1], close[0]))}'?" if close else f"valid keys here: {', '.join(valid)}."
        return f"{where} is not a known key; {hint} Remove or rename it."
    if kind == "missing":
        return f"{where} is missing; add it (see the comments in params.yaml)."
    if kind == "literal_error":
        return f"{where} is {value!r}; choose one of {error['ctx']['expected']}."
    if isinstance(value, str) and kind in ("float_type", "int_type"):
        return (f"{where} is the string {value!r}, not a number; write it without quotes "
                f"(YAML needs a dot in exponent form: 1.0e-3, not 1e-3).")
    return f"{where} is {value!r}: {error['msg'].lower()}; fix the value."


def cross_check(params: dict) -> list[str]:
    """What the schema cannot see: models belong to their family, families have their sections,
    batch sizes fit the repositories."""
    problems, known = [], all_models()
    for model, family in params["models"].items():
        if model not in known:
            close = difflib.get_close_matches(model, list(known), n=1)
            problems.append(f"params.yaml: 'models.{model}' is not a model of any family"
                            f"{f'; did you mean {close[0]!r}?' if close else ''} (models: {sorted(known)}).")
        elif known[model] != family:
            problems.append(f"params.yaml: 'models.{model}' says family '{family}', but {model} belongs to "
                            f"'{known[model]}'; write 'models.{model}: {known[model]}'.")
        else:
            problems += [f"params.yaml: '{section}.{family}' is missing (the models of family '{family}' need it); "
                         "add the section." for section in FAMILY_SECTIONS if params[section].get(family) is None]
    for name, profile in params["profiles"].items():
        problems += profile_problems(f"profiles.{name}", profile, params["models"])
    for name, profile in params["containers"]["profiles"].items():
        problems += profile_problems(f"containers.profiles.{name}", profile, params["models"])
        if name in params["profiles"]:
            problems.append(f"params.yaml: '{name}' is both in 'profiles' and in 'containers.profiles'; keep one.")
        if profile["runtime"] != "container":
            problems.append(f"params.yaml: 'containers.profiles.{name}.runtime' is {profile['runtime']!r}; "
                            "write 'container'.")
    problems += [f"params.yaml: 'profiles.{name}.runtime' is 'container'; move the profile to "
                 "'containers.profiles'." for name, p in params["profiles"].items() if p["runtime"] == "container"]
    return sorted(set(problems), key=problems.index)


def profile_problems(at: str, profile: dict, models: dict[str, str]) -> list[str]:
    problems = [f"params.yaml: '{at}.serving.{family}' is missing: say which flavour serves the {family} family "
                "here (see the cpu profile)." for family in sorted(set(models.values()))
                if profile["serving"].get(family) is None]
    native, perf = profile.get("native") or {"models": [], "batch_sizes": []}, profile["perf"]
    problems += [f"params.yaml: '{at}.native.models' lists '{m}', which is not in 'models'; add it there or remove "
                 "it." for m in native["models"] if m not in models]
    online = perf.get("online")
    if "online" in perf.get("scenarios", []) and not online:
        problems.append(f"params.yaml: '{at}.perf.scenarios' lists online, but '{at}.perf.online' (batch_size, "
                        "concurrency) is missing; add it.")
    overrides = (perf.get("families") or {}).values()
    swept = perf["batch_sizes"] + native["batch_sizes"] + ([online["batch_size"]] if online else [])
    too_big = [b for b in swept if b > profile["repos"]["max_batch_size"]]
    for o in overrides:
        limit = o.get("max_batch_size") or profile["repos"]["max_batch_size"]
        too_big += [b for b in (o.get("batch_sizes") or []) + ([o["online"]["batch_size"]] if o.get("online") else [])
                    if b > limit]
    if too_big:
        problems.append(f"params.yaml: batch sizes {too_big} exceed '{at}.repos.max_batch_size' "
                        f"({profile['repos']['max_batch_size']}); lower them or raise the maximum.")
    return problems


def validate(params: dict) -> dict:
    """``params`` unchanged when valid; else ParamsError listing every problem."""
    model = schema()
    try:
        model.model_validate(params)
    except ValidationError as exc:
        raise ParamsError("\n".join(describe(e, model) for e in exc.errors())) from None
    problems = cross_check(params)
    if problems:
        raise ParamsError("\n".join(problems))
    return params


def load_params(path: Path = Path("params.yaml")) -> dict:
    if not path.exists():
        raise ParamsError(f"{path} is missing; run from the repository root.")
    try:
        params = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML ({exc}).") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: expected a mapping of sections (seed, models, data, ..., profiles).")
    return validate(params)
