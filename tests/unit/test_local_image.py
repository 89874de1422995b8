"""The project's cpu image (repro.containers.local_image): its tag, the build's pip sources, the podman
configuration, the lock comparison that proves a container run byte-identical, and the row labels."""
from __future__ import annotations

from pathlib import Path

from repro.containers import local_image
from repro.containers.engine import Engine
from repro.measure import host, labels
from repro.profiles.catalog import Profile


def test_image_tag_follows_every_input(tmp_path):
    files = {}
    for name in ("Dockerfile", "requirements.lock", "wheels/a.whl"):
        files[name] = tmp_path / name.replace("/", "_")
        files[name].write_text(name)
    tag = local_image.image_tag(files)
    assert tag.startswith("localhost/repro-cpu:") and len(tag.split(":")[1]) == 12
    assert local_image.image_tag(dict(files)) == tag
    files["requirements.lock"].write_text("numpy==2.0\n")
    assert local_image.image_tag(files) != tag


def test_context_names_the_lock_the_dockerfile_and_the_runtime_wheels():
    files = local_image.context_files()
    assert files["Dockerfile"].name == "Dockerfile" and files["Dockerfile"].parent.name == "cpu"
    assert {"requirements.lock", "runtime/tools/setup_runtime.py", "runtime/repro/serving/runtime.py"} <= set(files)
    assert sum(name.startswith("wheels/") for name in files) == 2


def test_pip_sources_keep_the_settings_and_mount_local_paths(tmp_path):
    (tmp_path / "wheels").mkdir()
    (tmp_path / "simple").mkdir()
    listed = (f"global.find-links='{tmp_path}/wheels'\n"
              f"global.extra-index-url='file://{tmp_path}/simple https://example.org/simple'\n"
              ":env:.default-timeout='180'\nnot a setting\n")
    settings = local_image.parse_pip_config_list(listed)
    assert settings["global.find-links"] == f"{tmp_path}/wheels"
    text, mounts = local_image.pip_sources(settings)
    assert "[global]" in text and "default-timeout = 180" in text and f"file://{tmp_path}/simple" in text
    assert mounts == [tmp_path / "wheels", tmp_path]          # a simple index links ../../files: its parent


def test_rootfs_trusts_the_machines_extra_certificates():
    argv = local_image.rootfs_command(Path("/tmp/rootfs.tar"), [Path("/usr/local/share/ca-certificates/proxy.crt")])
    assert argv[:2] == ["mmdebstrap", "--variant=minbase"] and argv[-1].startswith("deb http://deb.debian.org")
    assert any("copy-in /usr/local/share/ca-certificates/proxy.crt" in a for a in argv)
    assert not any("copy-in" in a for a in local_image.rootfs_command(Path("/tmp/r.tar"), []))


def test_podman_config_uses_runc_and_stays_within_the_hard_limits(tmp_path):
    conf = local_image.podman_config(tmp_path, 20000)
    assert 'runtime = "runc"' in conf["containers.conf"] and "nofile=1024:20000" in conf["containers.conf"]
    assert f'graphroot = "{tmp_path}/storage"' in conf["storage.conf"]


def test_podman_runs_with_the_projects_configuration(tmp_path):
    env = Engine("podman", tmp_path, gpu=False).environment({"XDG_CACHE_HOME": str(tmp_path)})
    assert Path(env["CONTAINERS_CONF"]).read_text().startswith("# Written by")
    assert Engine("podman", tmp_path).environment({"CONTAINERS_CONF": "/mine"})["CONTAINERS_CONF"] == "/mine"
    assert "CONTAINERS_CONF" not in Engine("docker", tmp_path).environment({})


def test_cpu_runs_leave_out_upstreams_gpu_ulimits(tmp_path):
    engine = Engine("podman", tmp_path, gpu=False)
    argv = engine.run("img", ["true"], name="repro-cpu-1", gpu=False, gpu_ulimits=False)
    assert "memlock=-1" not in argv and argv[argv.index("--name") + 1] == "repro-cpu-1" and "--detach" not in argv
    assert "memlock=-1" in engine.run("img", ["true"])


STAGE_OF = {"artifacts/data": "data", "triton_repos/cpu": "repos@cpu", "results/convert/dlrm.json": "convert@dlrm",
            "results/cpu/perf": "perf@cpu"}


def lock(hashes: dict[str, str]) -> dict:
    stages: dict = {}
    for path, md5 in hashes.items():
        stages.setdefault(STAGE_OF[path], {"outs": []})["outs"].append({"path": path, "md5": md5})
    return {"stages": stages}


def test_lock_comparison_covers_artifacts_only():
    a = lock({"artifacts/data": "1", "triton_repos/cpu": "2", "results/convert/dlrm.json": "t1", "results/cpu/perf": "p1"})
    same = lock({"artifacts/data": "1", "triton_repos/cpu": "2", "results/convert/dlrm.json": "t2",
                 "results/cpu/perf": "p2"})
    assert local_image.artifact_differences(a, same, "cpu") == []      # timings and measurements may differ
    assert local_image.artifact_differences(a, lock({"artifacts/data": "1", "triton_repos/cpu": "3"}), "cpu") == \
        ["triton_repos/cpu"]
    assert local_image.artifact_differences(a, lock({"triton_repos/cpu": "2"}), "cpu") == ["artifacts/data"]
    unhashed = {"stages": {"data": {"outs": [{"path": "artifacts/data"}]}}}
    assert local_image.artifact_differences(unhashed, unhashed, "cpu") == ["artifacts/data"]   # fails closed


def test_pipeline_command_is_make_deploy_without_make():
    assert local_image.pipeline_command("cpu") == ("python -m tools.check_params --profile cpu && "
                                                    "exec dvc repro tables@cpu")


def test_rows_say_container_only_inside_one(tmp_path, monkeypatch):
    marker = tmp_path / ".containerenv"
    env = {host.CONTAINER_IMAGE_ENV: "localhost/repro-cpu:abc (podman image 123)"}
    assert host.container_image(env, (marker,)) is None                 # the variable alone is not believed
    marker.touch()
    assert host.container_image(env, (marker,)) == "localhost/repro-cpu:abc (podman image 123)"
    profile = Profile("cpu", {"runtime": "local", "device": "cpu", "hardware": "", "repos": {}, "perf": {},
                              "serving": {}})
    monkeypatch.setattr(labels, "container_image", lambda: None)
    assert labels.runtime_label(profile) == "Triton 2.51.0 (local runtime)"
    monkeypatch.setattr(labels, "container_image", lambda: "localhost/repro-cpu:abc")
    assert labels.runtime_label(profile) == "Triton 2.51.0 (container runtime: localhost/repro-cpu:abc)"
    assert profile.label_in("localhost/repro-cpu:abc") == "cpu (CPU; container runtime: localhost/repro-cpu:abc)"
    assert profile.label == "cpu (CPU; local runtime)"


def test_containers_of_dead_launchers_are_swept(monkeypatch, tmp_path):
    import os
    import subprocess

    from tools import cpu_container
    alive, dead = f"repro-cpu-{os.getpid()}", "repro-cpu-999999999"
    monkeypatch.setattr(cpu_container, "engine_call", lambda engine, argv, what: f"{alive}\n{dead}\nsomeone-else")
    removed = []
    monkeypatch.setattr(subprocess, "run", lambda argv, **kw: removed.append(argv))
    cpu_container.sweep_stale(Engine("podman", tmp_path, gpu=False))
    assert removed == [["podman", "rm", "-f", dead]]
