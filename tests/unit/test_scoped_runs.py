"""A time-limited GPU host measures a profile in parts (`make deploy-h100 MODELS=...`)."""
from __future__ import annotations

import pytest

from repro.errors import UserError
from repro.families import served_models
from repro.measure.scenarios import Selection
from tools import run_profile


def only_models(served: list[str], only: list[str] | None) -> list[str]:
    params = {"models": {m: f"family_{m}" for m in served}}
    profile = type("P", (), {"name": "h100", "serves": staticmethod(lambda family: True)})
    return served_models(params, profile, only)


def test_only_models_keeps_the_served_order_and_names_unknown_ones():
    assert only_models(["dlrm", "dcnv2", "widedeep"], None) == ["dlrm", "dcnv2", "widedeep"]
    assert only_models(["dlrm", "dcnv2", "widedeep"], ["widedeep", "dlrm"]) == ["dlrm", "widedeep"]
    with pytest.raises(UserError, match="resnet50"):
        only_models(["dlrm"], ["resnet50"])


def test_run_profile_passes_models_to_accuracy_and_perf_only(monkeypatch):
    ran = []
    monkeypatch.setattr(run_profile.subprocess, "run", lambda cmd, cwd: ran.append(cmd) or type("R", (), {"returncode": 0}))
    assert run_profile.main(["--profile", "h100", "--models", "widedeep"]) == 0
    scoped = {cmd[2].split(".")[1]: "--models" in cmd for cmd in ran}
    assert scoped == {"host": False, "accuracy": True, "perf": True, "native": False, "tables": False}


def test_run_profile_passes_table_patterns_to_perf_only(monkeypatch):
    ran = []
    monkeypatch.setattr(run_profile.subprocess, "run", lambda cmd, cwd: ran.append(cmd) or type("R", (), {"returncode": 0}))
    assert run_profile.main(["--profile", "h100", "--from", "perf", "--tables", "*_fp16_*,*online"]) == 0
    assert [cmd[cmd.index("--tables") + 1] if "--tables" in cmd else None for cmd in ran] == ["*_fp16_*,*online", None, None]


def test_selection_matches_tables_or_points():
    every, part = Selection.parse(None), Selection.parse("wd_fp16,*_online_b2048_c1[0-9][0-9]")
    assert every("anything", 1, 1) and not every.partial and part.partial
    assert part("wd_fp16", 16384, 1) and not part("wd_fp32", 16384, 1)
    assert part("wd_fp32_online", 2048, 128) and not part("wd_fp32_online", 2048, 96)


def test_perf_in_parts_keeps_the_points_it_does_not_measure(tmp_path, monkeypatch):
    """A part re-measures the selected points and keeps the rest: the other tables (settings, summary,
    rows, samples, raw logs) and the other points of a table it measures in part; the re-measured points
    lose their earlier raw files and samples."""
    import json

    import pandas as pd

    from stages import perf as stage

    out, summary = tmp_path / "perf", tmp_path / "perf_summary.json"
    for table in ("wd_fp16", "wd_fp32"):
        (out / "raw" / table).mkdir(parents=True)
        for b in (1, 2):
            (out / "raw" / table / f"{table}_b{b}.log").write_text("earlier part")
    (out / "samples").mkdir()
    for point in ("wd_fp16_b1", "wd_fp16_b2", "wd_fp32_b1"):
        (out / "samples" / f"{point}.json").write_text("{}")
    earlier = {"wd_fp16": {"model": "wd", "scenario": "offline", "sweep_note": None},
               "wd_fp32": {"model": "wd", "scenario": "offline", "sweep_note": None},
               "dlrm_x": {"model": "dlrm", "scenario": "offline", "sweep_note": None}}
    (out / "settings.json").write_text(json.dumps({"tables": earlier}))
    summary.write_text(json.dumps({name: {"b1": {"infer_per_s": 1.0}} for name in earlier}))
    row = lambda b, v: {"batch": b, "concurrency": 1, "throughput_infer_per_s": v, "latency_p99_us": 5.0,  # noqa: E731
                        "stable": True, "scenario": "offline"}
    for name in earlier:
        pd.DataFrame([row(1, 1.0), row(2, 1.0)]).to_csv(out / f"{name}.csv", index=False)

    class Group:
        name, models = "wd", {"wd_fp16": {}, "wd_fp32": {}}

        def model_stats(self):
            return {}

    class Family:
        name, scenarios = "fam", ("offline",)

        def perf_groups(self, *args):
            return [Group()]

        def size_label(self, params):
            return "small preset"

    class Profile:
        name, perf = "h100", {"scenarios": ["offline"], "batch_sizes": [1, 2], "concurrency": 1,
                              "measurement_interval_ms": 500, "stability_percentage": 10, "max_trials": 5, "retries": 1}

        def perf_for(self, family):
            return {**self.perf, "note": None}

    measured = []

    def fake_measure(group, staging, sweep, settings, wanted):
        points = [(t, b, 1) for t in group.models for b in (1, 2) if wanted(t, b, 1)]
        measured.extend(points)
        assert not (staging / "raw" / "wd_fp16" / "wd_fp16_b2.log").exists()   # re-measured: earlier raw gone
        assert (staging / "raw" / "wd_fp16" / "wd_fp16_b1.log").exists()
        return {t: [row(b, 2.0)] for t, b, _ in points}, []

    monkeypatch.setattr(stage, "load_params", lambda path: {"convert": {"precision": "fp32"}})
    monkeypatch.setattr(stage, "get_profile", lambda params, name: Profile())
    monkeypatch.setattr(stage, "served_models", lambda params, profile, only: ["wd"])
    monkeypatch.setattr(stage, "family_of", lambda params, model: Family())
    monkeypatch.setattr(stage, "families_in_use", lambda params: [Family()])
    monkeypatch.setattr(stage, "measure_group", fake_measure)
    stage.build("h100", tmp_path, tmp_path, out, summary, tmp_path / "params.yaml", None, Selection.parse("wd_fp16_b2"))

    assert measured == [("wd_fp16", 2, 1)]
    settings = json.loads((out / "settings.json").read_text())
    assert sorted(settings["tables"]) == ["dlrm_x", "wd_fp16", "wd_fp32"]
    assert pd.read_csv(out / "wd_fp16.csv")["throughput_infer_per_s"].tolist() == [1.0, 2.0]   # b1 kept, b2 new
    assert pd.read_csv(out / "wd_fp32.csv")["throughput_infer_per_s"].tolist() == [1.0, 1.0]
    kept = json.loads(summary.read_text())
    assert kept["wd_fp16"]["b2"]["infer_per_s"] == 2.0 and kept["wd_fp32"]["b1"]["infer_per_s"] == 1.0
    assert "dlrm_x" in kept
    assert (out / "samples" / "wd_fp16_b1.json").exists() and not (out / "samples" / "wd_fp16_b2.json").exists()
    assert (out / "raw" / "wd_fp32" / "wd_fp32_b2.log").exists()
