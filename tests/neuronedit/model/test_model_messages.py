"""Model-loading refusals name the real cause: a device map that is no map or names absent devices,
a pipe given as the model, a weights file that cannot be read for its permissions (not "damaged")."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from neuronedit.model import checks
from neuronedit.model.loading import ModelLoadError, load_model


@pytest.mark.parametrize(("device_map", "message"), [
    (["cpu"], "not list"),
    ({}, "a non-empty object"),
    ("everywhere", "not a placement strategy"),
    ({"model.layers.0": "cuda:0"}, "is not available"),
    ({"model.layers.0": 3}, "is not available"),
    ({"model.layers.0": [0]}, "is not a device"),
])
def test_a_device_map_is_checked_before_loading(device_map, message, tmp_path):
    pytest.importorskip("accelerate")
    with pytest.raises(ModelLoadError, match=message) as refused:
        load_model(str(tmp_path / "nowhere"), device_map=device_map)
    assert "damaged" not in str(refused.value)


def test_strategies_and_cpu_maps_pass():
    pytest.importorskip("accelerate")
    checks.check_device_map("auto")
    checks.check_device_map({"model": "cpu", "lm_head": "disk"})


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
def test_a_pipe_is_not_called_missing(tmp_path):
    pipe = tmp_path / "model.pipe"
    os.mkfifo(pipe)
    with pytest.raises(ModelLoadError, match=r"neither a file nor a folder \(a pipe") as refused:
        load_model(str(pipe))
    assert "no such file" not in str(refused.value)


def test_unreadable_weights_are_not_called_damaged(tmp_path, monkeypatch):
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(b"\0" * 16)

    def denied(path: Path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(checks, "_safetensors_size", denied)
    with pytest.raises(ModelLoadError, match="permission denied") as refused:
        checks._check_safetensors(weights)
    assert "damaged" not in str(refused.value)


def test_an_unreadable_gguf_is_not_called_damaged(tmp_path, monkeypatch):
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    real = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **kw: False if Path(p) == gguf else real(p, mode, **kw))
    with pytest.raises(ModelLoadError, match="permission denied") as refused:
        load_model(str(gguf))
    assert "damaged" not in str(refused.value)
