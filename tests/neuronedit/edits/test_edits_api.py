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
from neuronedit import EditLog, compact_, masked, prune_, save_edited, scale_
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


def test_save_edited_saves_the_tokenizer_and_has_one_form(tmp_path):
    lm = _lm()
    prune_(lm, NEURONS)
    out = save_edited(lm, tmp_path / "new")
    assert "tokenizer_config.json" in _files(out)
    with masked(lm, NeuronSet([(0, 1)])) as edit:
        save_edited(lm, tmp_path / "masked", edit, overwrite=False)
    assert load_manifest(tmp_path / "masked")[-1].neurons == edit.neurons
    with pytest.raises(TypeError):
        save_edited(lm, lm.tokenizer, tmp_path / "old")  # type: ignore[arg-type]  # the removed (model, tokenizer, out) form
    with pytest.raises(TypeError, match="take a LanguageModel"):
        save_edited(lm.model, tmp_path / "bare")  # type: ignore[arg-type]
    assert not (tmp_path / "old").exists() and not (tmp_path / "bare").exists()


FACE = ["DemoModelUnavailable", "Edit", "EditError", "EditLog", "ManifestError", "Evaluation", "LanguageModel",
        "ModelLoadError", "NeuronEditError", "InputError", "__version__", "apply_edit_", "compact_", "load_manifest",
        "masked", "prune_", "save_edited", "scale_", "paired_effects", "evaluate", "load_model",
        "next_token_logprob_gap"]

REMOVED_MODULES = ["neuronedit.manifest", "neuronedit.editing", "neuronedit.weight_edits", "neuronedit.checkpoints",
                   "neuronedit.unlearn.delta", "neuronedit.cli_args"]


def test_one_name_per_thing_no_old_modules_or_aliases():
    from neuronedit import edits

    assert set(FACE) == set(neuronedit.__all__)
    assert all(hasattr(neuronedit, name) for name in neuronedit.__all__)
    for alias in ("compact", "apply_edit", "applied_edit_ids", "edit_history"):
        assert not hasattr(neuronedit, alias) and not hasattr(edits, alias), alias
    for module in REMOVED_MODULES:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(module)


def test_the_version_has_one_home_and_goes_into_the_manifest(tmp_path):
    from neuronedit._version import __version__

    assert neuronedit.__version__ == __version__
    lm = _lm()
    prune_(lm, NEURONS)
    out = save_edited(lm, tmp_path / "c")
    assert json.loads((out / "neuronedit.json").read_text())["package_version"] == __version__


def test_edit_functions_take_a_language_model_only():
    """One handle: a bare module is refused with a TypeError naming the fix, and nothing is changed."""
    from neuronedit.edits import prune_
    from neuronedit.edits.handle import as_language_model

    lm = _lm()
    assert as_language_model(lm) is lm
    before = [p.detach().clone() for p in lm.model.parameters()]
    for bad in (lm.model, "demo"):
        with pytest.raises(TypeError, match=r"LanguageModel\(module, tokenizer\)"):
            as_language_model(bad)
    with pytest.raises(TypeError, match="take a LanguageModel"):
        prune_(lm.model, NeuronSet([(0, 1)]))  # type: ignore[arg-type]
    assert all(torch.equal(a, b) for a, b in zip(before, lm.model.parameters()))
    assert EditLog.of(lm).applied_ids == []

