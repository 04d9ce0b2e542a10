"""The edits package's contract: one EditLog, provenance as a mapping, save_edited's two forms,
deprecated names, the old modules as re-exports, one home for the version."""

from __future__ import annotations

import importlib
import json

import pytest
import torch
from tiny_models import MLP_WIDTH, tiny_lm
from transformers import AutoModelForCausalLM

import neuronedit
from attributions import LanguageModel, NeuronSet, weights_fingerprint
from neuronedit import EditLog, apply_edit_, compact_, masked, prune_, save_edited, scale_
from neuronedit.edits import APPLIED_KEY, Edit, delta_bytes, load_manifest, make_delta, restoring

NEURONS = NeuronSet([(0, 3), (1, 5)])


def _lm(seed: int = 0) -> LanguageModel:
    return tiny_lm("gpt2", seed, bos=False)


def _files(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_the_edit_log_is_one_object_that_owns_ids_history_and_deltas(tmp_path):
    lm = _lm()
    log = EditLog.of(lm)
    assert log is EditLog.of(lm.model) and log.applied_ids == [] and log.history == [] and not log.deltas
    first = prune_(lm, NEURONS)
    second = scale_(lm, NeuronSet([(1, 7)]), 2.0)
    assert log.applied_ids == [first.id, second.id] == getattr(lm.model.config, APPLIED_KEY)
    assert log.history == [first, second] and first in log and second.id in log
    assert [key for key in vars(lm.model) if "neuronedit" in key] == ["_neuronedit_log"]
    log.history.append(first)  # a copy: the log changes only through record()
    assert len(log.history) == 2
    with pytest.raises(TypeError):
        log.deltas["x.safetensors"] = b""  # type: ignore[index]
    with pytest.raises(ValueError, match="no weight delta"):
        log.record(first, delta_bytes=b"x")
    assert len(log.history) == 2
    out = save_edited(lm, tmp_path / "ckpt")  # the ids go to config.json, as before: old checkpoints keep working
    assert json.loads((out / "config.json").read_text())[APPLIED_KEY] == [first.id, second.id]
    assert EditLog.of(AutoModelForCausalLM.from_pretrained(out)).applied_ids == [first.id, second.id]


def test_kept_restores_ids_and_history_exactly():
    lm = _lm()
    log = EditLog.of(lm)
    with log.kept():
        prune_(lm, NEURONS)
        assert len(log.applied_ids) == 1
    assert APPLIED_KEY not in vars(lm.model.config) and log.history == []  # config.json stays as it was
    edit = prune_(lm, NEURONS)
    with pytest.raises(RuntimeError), log.kept():
        scale_(lm, NEURONS, 2.0)
        raise RuntimeError
    assert log.applied_ids == [edit.id] and log.history == [edit]


def test_an_unlearning_edit_made_inside_restoring_can_be_saved_later(tmp_path):
    """restoring() undoes the weights and the record, but keeps the delta bytes (named by content)."""
    lm = _lm()
    before_state = {k: v.clone() for k, v in lm.model.state_dict().items()}
    fingerprint = weights_fingerprint(lm.model)
    with restoring(lm):
        before = {name: p.detach().clone() for name, p in lm.model.named_parameters()}
        with torch.no_grad():
            lm.sites[0].write_out[:, 3] += 1.0
        unlearned = {k: v.clone() for k, v in lm.model.state_dict().items()}
        data, digest = delta_bytes(make_delta(before, lm.model))
        edit = Edit(NeuronSet(), "unlearn", base_fingerprint=fingerprint, delta=f"u-{digest[:12]}.safetensors",
                    delta_sha256=digest)
        EditLog.of(lm).record(edit, delta_bytes=data)
        assert edit in EditLog.of(lm)
    after = lm.model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before_state.items()), "the weights are back"
    assert edit not in EditLog.of(lm) and EditLog.of(lm).deltas[edit.delta] == data
    out = save_edited(lm, tmp_path / "u", edit)
    assert (out / edit.delta).read_bytes() == data
    reloaded = AutoModelForCausalLM.from_pretrained(out).state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in unlearned.items())
    assert all(torch.equal(lm.model.state_dict()[k], v) for k, v in before_state.items()), "restored after the save"


def test_provenance_is_a_mapping_and_a_misspelt_keyword_fails():
    lm = _lm()
    means = {0: torch.ones(MLP_WIDTH), 1: torch.ones(MLP_WIDTH)}
    with pytest.raises(TypeError):
        prune_(lm, NEURONS, mean=means)  # type: ignore[call-arg]  # it used to prune, storing 'mean' as provenance
    with pytest.raises(TypeError):
        scale_(lm, NEURONS, 2.0, method="grad_x_act")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="mapping"):
        compact_(lm, NEURONS, provenance=[("k", 1)])  # type: ignore[arg-type]
    assert EditLog.of(lm).applied_ids == []
    notes = {"method": "grad_x_act", "k": 2}
    edit = prune_(lm, NEURONS, provenance=notes)
    notes["k"] = 3  # the edit keeps its own copy
    assert edit.provenance == {"method": "grad_x_act", "k": 2}
    assert scale_(lm, NEURONS, 0.5).provenance == {}


def test_save_edited_saves_the_tokenizer_and_still_takes_the_old_form(tmp_path):
    lm = _lm()
    prune_(lm, NEURONS)
    new = save_edited(lm, tmp_path / "new")
    with pytest.warns(DeprecationWarning, match=r"save_edited\(model, out_dir"):
        old = save_edited(lm, lm.tokenizer, tmp_path / "old")
    assert _files(new) == _files(old) and "tokenizer_config.json" in _files(new)
    assert load_manifest(new) == load_manifest(old)
    with pytest.warns(DeprecationWarning, match="take a LanguageModel"):
        bare = save_edited(lm.model, tmp_path / "bare")  # a bare Hugging Face module: no tokenizer
    with pytest.warns(DeprecationWarning):
        save_edited(lm, None, tmp_path / "none")  # the old form without a tokenizer
    assert _files(bare) == _files(tmp_path / "none") and "tokenizer_config.json" not in _files(bare)
    with masked(lm, NeuronSet([(0, 1)])) as edit, pytest.warns(DeprecationWarning):
        save_edited(lm, lm.tokenizer, tmp_path / "masked", edit, overwrite=False)
    assert load_manifest(tmp_path / "masked")[-1].neurons == edit.neurons
    with pytest.raises(TypeError, match="out_dir must be a path"):
        save_edited(lm, lm.tokenizer, 3)  # type: ignore[call-overload]
    with pytest.raises(TypeError, match="3 positional"):
        save_edited(lm, tmp_path / "x", None, None)  # type: ignore[call-overload]


OLD_FACE = ["DemoModelUnavailable", "Edit", "EditError", "ManifestError", "Evaluation", "LanguageModel",
            "ModelLoadError", "__version__", "apply_edit", "compact", "load_manifest", "masked", "prune_",
            "save_edited", "scale_", "compare", "evaluate", "load_model", "next_token_logprob_gap"]

MOVED = {
    "neuronedit.manifest": ["MANIFEST_FORMAT", "MANIFEST_NAME", "MODES", "Edit", "ManifestError", "load_manifest",
                            "parse_manifest", "save_manifest"],
    "neuronedit.editing": ["check_neurons", "masked"],
    "neuronedit.weight_edits": ["APPLIED_KEY", "EditError", "apply_edit", "applied_edit_ids", "compact",
                                "edit_history", "mlp_widths", "prune_", "restoring", "scale_", "temporarily_applied"],
    "neuronedit.checkpoints": ["save_edited"],
    "neuronedit.unlearn.delta": ["add_delta", "delta_bytes", "make_delta"],
}


def test_deprecated_names_and_old_modules_give_the_same_objects():
    from neuronedit import edits

    assert neuronedit.compact is compact_ and neuronedit.apply_edit is apply_edit_
    assert set(OLD_FACE) | {"EditLog", "compact_", "apply_edit_"} == set(neuronedit.__all__)
    assert all(hasattr(neuronedit, name) for name in neuronedit.__all__)
    for module, names in MOVED.items():
        old = importlib.import_module(module)
        for name in names:
            assert getattr(old, name) is getattr(edits, name), (module, name)
        assert all(hasattr(old, name) for name in old.__all__)
    weight_edits = importlib.import_module("neuronedit.weight_edits")
    assert weight_edits.model_name(_lm()) == "tiny-gpt2" and callable(weight_edits.require_weights_in_memory)


def test_the_version_has_one_home_and_goes_into_the_manifest(tmp_path):
    from neuronedit._version import __version__

    assert neuronedit.__version__ == __version__
    lm = _lm()
    prune_(lm, NEURONS)
    out = save_edited(lm, tmp_path / "c")
    assert json.loads((out / "neuronedit.json").read_text())["package_version"] == __version__


def test_edit_functions_take_a_language_model_and_warn_on_a_bare_module():
    """One handle: a bare module still works for one release, with a warning naming the fix."""
    from neuronedit.edits import prune_
    from neuronedit.edits.handle import as_language_model

    lm = _lm()
    assert as_language_model(lm) is lm
    with pytest.warns(DeprecationWarning, match=r"LanguageModel\(module, tokenizer\)"):
        wrapped = as_language_model(lm.model)
    assert wrapped.model is lm.model and wrapped.tokenizer is None and wrapped.name == lm.model.config._name_or_path
    with pytest.raises(TypeError, match="expected a LanguageModel"):
        as_language_model("demo")  # type: ignore[arg-type]
    with pytest.warns(DeprecationWarning):
        edit = prune_(lm.model, NeuronSet([(0, 1)]))
    assert EditLog.of(lm).applied_ids == [edit.id]  # the log lives on the module either way
