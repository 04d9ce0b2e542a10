"""load_model on damaged checkpoints, caches, devices and specs: always a ModelLoadError that names
the file or folder and the fix, never a raw OSError/SafetensorError/JSONDecodeError. Also: scoring
emits no FutureWarning, and quiet_transformers() restores the logging state."""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import pytest
import torch
from tiny_models import tiny_lm, tiny_model, tiny_tokenizer

from neuronedit.model import loading
from neuronedit.model.loading import ModelLoadError, load_model


@pytest.fixture(autouse=True)
def _offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path / "cache"))


def _save(out: Path, **kwargs) -> Path:
    tiny_model("llama").save_pretrained(out, **kwargs)
    tiny_tokenizer().save_pretrained(out)
    return out


@pytest.fixture
def ckpt(tmp_path) -> Path:
    return _save(tmp_path / "ckpt")


def _edit_config(path: Path, **changes) -> None:
    """Update config.json; a value of ``...`` removes the key."""
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps({k: v for k, v in config.items() if v is not ...}))


def _truncate(file: Path, keep: int | None = None) -> None:
    data = file.read_bytes()
    file.write_bytes(data[: len(data) // 2 if keep is None else keep])


def test_folder_without_weights(ckpt):
    for weights in ckpt.glob("*.safetensors"):
        weights.unlink()
    with pytest.raises(ModelLoadError, match=r"ckpt has config.json but no weights: expected model.safetensors"):
        load_model(ckpt)


def test_missing_and_truncated_shards(tmp_path):
    out = _save(tmp_path / "sharded", max_shard_size="20KB")
    shards = sorted(out.glob("model-*.safetensors"))
    assert len(shards) > 1
    _truncate(shards[-1])
    with pytest.raises(ModelLoadError, match=f"weights file .*{shards[-1].name} is truncated"):
        load_model(out)
    shards[0].unlink()
    with pytest.raises(ModelLoadError, match=f"lacks 1 of the {len(shards)} weight shards .*{shards[0].name}"):
        load_model(out)


@pytest.mark.parametrize("text,message", [
    ("{not json", r"config.json is not valid JSON \(.* line 1, column 2\); restore it"),
    ("", r"config.json is not valid JSON"),
    ("[1, 2]", r"config.json holds a JSON list, not an object"),
])
def test_config_that_is_not_a_json_object(ckpt, text, message):
    (ckpt / "config.json").write_text(text)
    with pytest.raises(ModelLoadError, match=message):
        load_model(ckpt)


def test_config_without_model_type(ckpt):
    _edit_config(ckpt, model_type=...)
    with pytest.raises(ModelLoadError, match=r'config.json has no "model_type" key.*add it \(e.g. "model_type"'):
        load_model(ckpt)


@pytest.mark.parametrize("field,value", [("hidden_size", "big"), ("num_hidden_layers", None)])
def test_config_with_wrong_types(ckpt, field, value):
    _edit_config(ckpt, **{field: value})
    with pytest.raises(ModelLoadError, match=f"config.json has invalid settings: .*'{field}'.*save_pretrained"):
        load_model(ckpt)


@pytest.mark.parametrize("keep", [None, 4, 0])
def test_truncated_safetensors(ckpt, keep):
    _truncate(ckpt / "model.safetensors", keep)
    with pytest.raises(ModelLoadError, match=r"weights file .*ckpt/model.safetensors is truncated or damaged"):
        load_model(ckpt)


def test_no_tokenizer_files(ckpt):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        (ckpt / name).unlink(missing_ok=True)
    with pytest.raises(ModelLoadError, match=r"ckpt has no tokenizer files: expected tokenizer.json") as caught:
        load_model(ckpt)
    assert "trust_remote_code" not in str(caught.value)


def test_damaged_tokenizer_file(ckpt):
    (ckpt / "tokenizer.json").write_text("{broken")
    with pytest.raises(ModelLoadError, match=r"could not load the tokenizer in .*ckpt.*expected tokenizer.json") as err:
        load_model(ckpt)
    assert "trust_remote_code" not in str(err.value)


@pytest.mark.parametrize("device", ["cuda", "cuda:1", "mps", "xpu:0"])
def test_unavailable_device(ckpt, device):
    if device in loading.available_devices() or f"{device}:0" in loading.available_devices():
        pytest.skip(f"{device} exists here")
    with pytest.raises(ModelLoadError, match=rf"device '{device}' is not available .*available here: cpu"):
        load_model(ckpt, device=device)


@pytest.mark.parametrize("device", ["gpu0", "cuda:x", "cuda:-1"])
def test_unparseable_device(ckpt, device):
    with pytest.raises(ModelLoadError, match=rf"invalid device '{device}': use cpu, cuda.*available here: cpu"):
        load_model(ckpt, device=device)


@pytest.mark.parametrize("spec", ["no such model", "models\\mine", "mine.safetensors", "weights/", "a--b"])
def test_missing_path_that_is_not_a_hub_id(spec):
    with pytest.raises(ModelLoadError, match="no such file or directory.*Check the path"):
        load_model(spec)


def test_empty_spec():
    with pytest.raises(ModelLoadError, match="empty model spec"):
        load_model("")


def test_missing_name_that_could_be_a_hub_id():
    with pytest.raises(ModelLoadError, match="could not load 'nowhere-model'.*no local file or directory"):
        load_model("nowhere-model")


# --- the converted-GGUF cache ------------------------------------------------------------------

@pytest.fixture
def fake_gguf(tmp_path, monkeypatch) -> tuple[Path, list[Path]]:
    """A file with the GGUF magic whose "conversion" writes a tiny checkpoint (no real GGUF needed)."""
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    converted: list[Path] = []

    def convert(path: Path, target: Path) -> None:
        converted.append(target)
        with loading.atomic_dir(target, overwrite=True, foreign_ok=True) as tmp:
            _save(tmp)

    monkeypatch.setattr(loading, "_convert_gguf", convert)
    return gguf, converted


@pytest.mark.parametrize("damage", ["truncate", "no_weights", "bad_config", "no_tokenizer"])
def test_damaged_cache_entry_is_rebuilt(fake_gguf, damage, caplog):
    gguf, converted = fake_gguf
    assert load_model(gguf).source == "gguf"
    entry = converted[0]
    assert load_model(gguf).source == "cache" and len(converted) == 1
    if damage == "truncate":
        _truncate(entry / "model.safetensors")
    elif damage == "no_weights":
        (entry / "model.safetensors").unlink()
    elif damage == "bad_config":
        (entry / "config.json").write_text("{")
    else:
        (entry / "tokenizer.json").unlink()
        (entry / "tokenizer_config.json").unlink()
    with caplog.at_level(logging.WARNING, logger="neuronedit.model.loading"):
        lm = load_model(gguf)
    assert lm.source == "gguf" and len(converted) == 2, "the damaged entry was converted again"
    assert f"{entry} is damaged" in caplog.text and "rebuilding it" in caplog.text
    assert load_model(gguf).source == "cache"


def test_cache_entry_that_stays_broken_names_the_folder_to_delete(fake_gguf, monkeypatch):
    gguf, converted = fake_gguf
    load_model(gguf)
    entry = converted[0]

    def broken_convert(path: Path, target: Path) -> None:
        converted.append(target)
        (target / "config.json").write_text("[]")

    monkeypatch.setattr(loading, "_convert_gguf", broken_convert)
    (entry / "config.json").write_text("[]")
    with pytest.raises(ModelLoadError, match=rf"converted copy of .*tiny.gguf in {entry} cannot be loaded.*"
                                             rf"delete the folder {entry}"):
        load_model(gguf)


def test_unwritable_cache_is_a_clear_error(fake_gguf, monkeypatch):
    gguf, _ = fake_gguf

    def no_space(path: Path, target: Path) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(loading, "_convert_gguf", no_space)
    with pytest.raises(ModelLoadError, match=r"could not write the converted .*No space left.*NEURONEDIT_CACHE"):
        load_model(gguf)


def test_truncated_demo_gguf_in_cache(tmp_path, monkeypatch):
    from neuronedit.model import demo as demo_model

    monkeypatch.setattr(demo_model, "_installed_gguf", lambda: None)
    cached = tmp_path / "cache" / "demo" / demo_model.DEMO_GGUF_NAME
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"GGUF" + bytes(100))
    with pytest.raises(demo_model.DemoModelUnavailable, match=rf"{cached} is damaged .*delete it"):
        demo_model.demo_gguf_path(download=False)


@pytest.mark.slow
def test_damaged_demo_cache_is_rebuilt(tmp_path, monkeypatch):
    from neuronedit.model.demo import DemoModelUnavailable, demo_gguf_path

    monkeypatch.delenv("NEURONEDIT_CACHE")
    try:
        gguf, good = demo_gguf_path(download=False), loading.gguf_cache_path(demo_gguf_path(download=False))
    except DemoModelUnavailable:
        pytest.skip("the demo model is not cached")
    if not (good / "model.safetensors").is_file():
        pytest.skip("the demo model was never converted")
    monkeypatch.setenv("NEURONEDIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(loading, "demo_gguf_path", lambda: gguf)
    entry = loading.gguf_cache_path(gguf)
    entry.mkdir(parents=True)
    for file in good.iterdir():  # a copy of the real entry whose weights were cut off mid-copy
        (entry / file.name).symlink_to(file)
    (entry / "model.safetensors").unlink()
    with open(good / "model.safetensors", "rb") as src:
        (entry / "model.safetensors").write_bytes(src.read(1 << 20))
    lm = load_model("demo")
    assert lm.source == "gguf" and lm.n_layers == 30
    assert not (entry / "model.safetensors").is_symlink()


# --- scoring warnings and quiet_transformers -----------------------------------------------------

@pytest.mark.parametrize("arch", ["llama", "gpt2"])
def test_scoring_emits_no_future_warning(arch):
    from neuronedit.measure.scoring import score_texts

    lm = tiny_lm(arch, name=arch)
    requests = [("the doctor said", "he was at work"), ("the doctor said", "she was at home")]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = score_texts(lm, requests, share_prefix=True)
    assert [str(w.message) for w in caught if issubclass(w.category, (FutureWarning, DeprecationWarning))] == []
    assert scores.n_tokens.tolist() == [4, 4]


def _hf_state() -> tuple[int, bool, bool]:
    from huggingface_hub.utils import are_progress_bars_disabled
    from transformers.utils import logging as hf_logging

    return hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled(), are_progress_bars_disabled()


@pytest.mark.parametrize("bars", [True, False])
def test_quiet_transformers_silences_and_restores(tmp_path, capfd, bars):
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_info()
    hf_logging.enable_progress_bar() if bars else hf_logging.disable_progress_bar()
    before = _hf_state()
    try:
        with pytest.raises(RuntimeError):
            with loading.quiet_transformers():
                assert _hf_state() == (logging.ERROR, False, True)
                tiny_model("llama").save_pretrained(tmp_path / "saved")
                load_model(_save(tmp_path / "ckpt"))
                raise RuntimeError("restored even on errors")
        assert _hf_state() == before
        assert "Writing model shards" not in capfd.readouterr().err
    finally:
        hf_logging.set_verbosity_warning()
        hf_logging.enable_progress_bar()


def test_real_load_still_works(ckpt):
    lm = load_model(ckpt, device="cpu")
    assert lm.source == "dir" and next(lm.model.parameters()).device == torch.device("cpu")
