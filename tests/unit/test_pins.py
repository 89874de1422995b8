"""docker/pins.yaml and `make pin-images`: every image pinned by tag and digest or marked; never invented."""
from __future__ import annotations

import shutil

import pytest
import yaml

from repro.containers.pins import PINS, load_pins
from repro.errors import UserError
from tools import pin_images

DIGEST = "sha256:" + "ab" * 32


def test_every_image_has_tag_digest_or_status_and_source():
    pins = load_pins()
    assert {"tensorflow", "tritonserver", "tritonserver-sdk", "tensorrt"} <= set(pins.images)
    for pin in pins.images.values():
        assert pin.tag and pin.source and (pin.digest or pin.status in ("unresolved", "local"))
        assert pin.reference.startswith(f"{pin.image}:{pin.tag}")


def test_a_digest_without_its_status_is_refused(tmp_path):
    data = yaml.safe_load(PINS.read_text())
    data["images"]["tritonserver"]["digest"] = DIGEST          # a digest, still marked unresolved
    (tmp_path / "pins.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(UserError, match="images.tritonserver"):
        load_pins(tmp_path / "pins.yaml")


def test_pin_images_verifies_what_a_registry_answers_and_keeps_the_rest(tmp_path, monkeypatch, capsys):
    pins = tmp_path / "pins.yaml"
    shutil.copy(PINS, pins)
    answers = {"nvcr.io/nvidia/tritonserver:23.02-py3": (DIGEST, "resolved from the registry by fake on today")}
    monkeypatch.setattr(pin_images, "resolve", lambda ref, timeout: answers.get(ref, (None, "fake: unreachable")))
    assert pin_images.main(["--pins", str(pins)]) == 1            # some could not be verified
    after = load_pins(pins)
    assert after.images["tritonserver"].digest == DIGEST and after.images["tritonserver"].status == "verified"
    assert after.images["tensorrt"].status == "unresolved" and after.images["tensorrt"].digest is None
    assert pins.read_text().startswith("# Every image")             # the header comments survive
    assert after.images["debian-bookworm"].status == "local"         # built here: never sent to a registry
    assert "fake: unreachable" in capsys.readouterr().err


def test_no_tool_means_no_digest(monkeypatch):
    monkeypatch.setattr(pin_images.shutil, "which", lambda tool: None)
    digest, why = pin_images.resolve("nvcr.io/nvidia/tritonserver:23.02-py3", 1)
    assert digest is None and "skopeo not installed" in why
