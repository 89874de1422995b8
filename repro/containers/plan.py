"""The plan of a container profile: every command `make deploy-<gpu>` runs, in order, built from params
(the profile's sweeps, `containers`), docker/pins.yaml and the families (their in-image steps).

1. images: docker/<role>/Dockerfile FROM the pinned bases (tag@digest; a tag alone is flagged)
2. shared stages in the project environment (byte-identical on any x86-64 host): data, train, convert
3. repos@<gpu>: the container repositories (upstream layout, one HPS JSON)
4. each model's in-image steps: sparse export under horovodrun (TF image), engines by trtexec (TensorRT image)
5. the server (serving image, repository at its mount, 127.0.0.1 only, upstream's flags), then
   accuracy@<gpu> and perf_analyzer per served model and batch (SDK image), then the server stopped
6. tables@<gpu>
"""
from __future__ import annotations

import dataclasses
import shlex
from dataclasses import dataclass
from pathlib import Path

from repro.containers.engine import Engine
from repro.containers.pins import Pins
from repro.families import family_of, served_models
from repro.measure import scenarios
from repro.measure.perf_analyzer import PerfSettings, perf_command
from repro.measure.scenarios import Scenario, point_name
from repro.profiles.catalog import Profile
from repro.serving.server import HOST, Ports

# role -> (build context, Dockerfile ARG -> pins.yaml entry; the last names the image's release)
ROLES = {"serving": ("docker/hps", {"TF_IMAGE": "tensorflow", "TRITON_IMAGE": "tritonserver"}),
         "convert": ("docker/tf", {"TF_IMAGE": "tensorflow"}),
         "engine": ("docker/trt", {"TRT_IMAGE": "tensorrt"}),
         "client": ("docker/sdk", {"SDK_IMAGE": "tritonserver-sdk"})}
PYTHON, DVC = ".venv/bin/python", ".venv/bin/dvc"   # the project environment (`make setup`), relative to the checkout
DEFAULT_PORTS = Ports(8000, 8001, 8002)


@dataclass(frozen=True)
class Step:
    section: str
    what: str
    argv: list[str]

    def render(self) -> str:
        return f"# {self.what}\n{shlex.join(self.argv)}"


def image_tag(role: str, pins: Pins) -> str:
    release = pins.images[list(ROLES[role][1].values())[-1]]
    return f"localhost/repro-{role}:{release.tag}"


def image_builds(engine: Engine, pins: Pins) -> list[Step]:
    steps = []
    for role, (context, args) in ROLES.items():
        bases = {arg: pins.images[name] for arg, name in args.items()}
        loose = [f"{p.image}:{p.tag} ({p.status})" for p in bases.values() if p.status != "verified"]
        note = f"; not verified against the registry: {', '.join(loose)}" if loose else ""
        steps.append(Step("images", f"build the {role} image{note}",
                          engine.build(image_tag(role, pins), Path(context),
                                       {arg: p.reference for arg, p in bases.items()})))
    return steps


@dataclass(frozen=True)
class ClientRuntime:
    """perf_analyzer in the SDK image: what repro.measure.perf_analyzer.perf_command needs of a runtime."""
    engine: Engine
    image: str

    def perf_analyzer_argv(self) -> list[str]:
        return self.engine.run(self.image, ["perf_analyzer"], gpu=False)


def server_step(engine: Engine, pins: Pins, profile: Profile, params: dict, repo: Path, models: list[str],
                ports: Ports, env: dict[str, str] | None = None) -> Step:
    mount = profile.repos.get("mount", "/models")
    command = ["tritonserver", f"--model-repository={mount}", "--model-control-mode=explicit",
               f"--http-address={HOST}", f"--grpc-address={HOST}", f"--metrics-address={HOST}",
               f"--http-port={ports.http}", f"--grpc-port={ports.grpc}", f"--metrics-port={ports.metrics}",
               f"--backend-config=hps,ps={mount}/ps.json", *params["containers"]["server_args"],
               *[f"--load-model={m}" for m in models]]
    return Step("serve", "the server: serving image, repository read-only at its mount, 127.0.0.1 only",
                engine.run(image_tag("serving", pins), command, mounts={repo: mount}, name=f"repro-{profile.name}-server",
                           detach=True, env=env))


def deploy_plan(params: dict, profile: Profile, engine: Engine, pins: Pins,
                stage_commands, ports: Ports = DEFAULT_PORTS) -> list[Step]:
    """Every command of ``make deploy-<profile.name>``, in order (pure: nothing runs)."""
    root, models = engine.workspace, served_models(params, profile)
    repo = root / "triton_repos" / profile.name
    steps = image_builds(engine, pins)
    steps.append(Step("shared", "the project environment (locked) and Triton runtime: make setup", ["make", "setup"]))
    steps.append(Step("shared", "data, train, convert in the project environment (byte-identical on any x86-64 host)",
                      [DVC, "repro", *[f"convert@{m}" for m in models]]))
    stages = dict(stage_commands(("repos", "accuracy", "tables"), PYTHON))
    steps.append(Step("repos", f"repos@{profile.name}: the container repositories (upstream layout)",
                      stages[f"repos@{profile.name}"]))
    served: dict[str, list[Scenario]] = {}
    server_env: dict[str, str] = {}
    for model in models:
        family = family_of(params, model)
        server_env |= family.container_server_env()
        for step in family.container_steps(model, params, profile, repo):
            steps.append(Step("convert", step.what, engine.run(image_tag(step.image, pins), step.command)))
        sweep = scenarios.from_params(profile.perf_for(family.name), family.scenarios)
        served |= {name: sweep for name in family.container_served(model)}
    steps.append(server_step(engine, pins, profile, params, repo, served, ports, server_env))
    steps.append(Step("accuracy", f"accuracy@{profile.name}: served AUC vs TensorFlow's, against that server",
                      stages[f"accuracy@{profile.name}"]))
    client, settings = ClientRuntime(engine, image_tag("client", pins)), PerfSettings.from_params(profile.perf)
    perf = root / "results" / profile.name / "perf"
    for model, sweep in served.items():
        for scenario in sweep:
            table = scenario.table_name(model)
            for batch, concurrency in scenario.points:
                csv = perf / "raw" / f"{point_name(table, batch, concurrency)}.csv"
                steps.append(Step("perf", f"perf@{profile.name}: {model}, {scenario.name}, batch {batch}, concurrency "
                                          f"{concurrency}",
                                  perf_command(client, model, f"{HOST}:{ports.grpc}", batch, csv,
                                               perf / f"{model}_input_data.json",
                                               dataclasses.replace(settings, concurrency=concurrency),
                                               profile.perf["measurement_interval_ms"])))
    steps.append(Step("serve", "stop the server", engine.stop(f"repro-{profile.name}-server")))
    steps.append(Step("tables", f"tables@{profile.name}: tables, plots and report in the published format",
                      stages[f"tables@{profile.name}"]))
    return steps


def render(steps: list[Step], profile: Profile) -> str:
    header = (f"# make deploy-{profile.name}: {profile.hardware}, {len(steps)} commands in order "
              f"(DRY_RUN: nothing was run)\n")
    return header + "\n".join(s.render() for s in steps) + "\n"

