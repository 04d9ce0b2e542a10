"""Sizes read from a config.json are bounded before transformers builds anything from them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from tiny_models import tiny_model_dir

from neuronedit.model.checks import ModelLoadError, check_device, check_sizes
from neuronedit.model.loading import load_model


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tiny_model_dir(tmp_path_factory.mktemp("model") / "tiny")


def _with_config(model_dir: Path, tmp_path: Path, **changes: object) -> Path:
    broken = tmp_path / "broken"
    shutil.copytree(model_dir, broken)
    config = json.loads((broken / "config.json").read_text())
    (broken / "config.json").write_text(json.dumps({**config, **changes}))
    return broken


@pytest.mark.parametrize(("changes", "message"), [
    ({"num_hidden_layers": 10**12}, "num_hidden_layers is 1000000000000, outside 0..1,024"),
    ({"vocab_size": -5}, "vocab_size is -5, outside 0..4,194,304"),
    ({"text_config": {"hidden_size": 10**9}}, "text_config.hidden_size is 1000000000, outside 0..262,144"),
    ({"hidden_size": 1 << 18, "intermediate_size": 1 << 18, "num_hidden_layers": 1000},
     r"its sizes describe a model of about 4.81e\+14 parameters, more than 1.10e\+12"),
])
def test_absurd_sizes_are_refused(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    with pytest.raises(ModelLoadError, match=message):
        check_sizes(tmp_path, {"model_type": "llama", "hidden_size": 32, "num_hidden_layers": 2, **changes})


def test_real_sizes_pass() -> None:
    llama_70b = {"hidden_size": 8192, "intermediate_size": 28672, "num_hidden_layers": 80, "vocab_size": 128256,
                 "num_attention_heads": 64, "num_key_value_heads": 8, "max_position_embeddings": 131072}
    assert 6e10 < check_sizes(Path("x"), llama_70b) < 1e11


def test_load_model_refuses_a_huge_config_before_building(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="config.json: num_hidden_layers is 2000, outside 0..1,024"):
        load_model(_with_config(model_dir, tmp_path, num_hidden_layers=2000))


def test_load_model_refuses_a_config_far_larger_than_its_weights(model_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"describes a model of about .* parameters, but its weight files hold"):
        load_model(_with_config(model_dir, tmp_path, hidden_size=100_000, intermediate_size=100_000))


def test_the_meta_device_is_refused() -> None:
    with pytest.raises(ModelLoadError, match="device 'meta' cannot run a model"):
        check_device("meta")
