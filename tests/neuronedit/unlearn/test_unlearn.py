"""Unlearning on tiny models: losses against hand computations, spans, confinement, save and replay."""

from __future__ import annotations

import math

import pytest
import torch
from tiny_models import tiny_lm, tiny_tokenizer
from transformers import AutoModelForCausalLM

from attributions import NeuronSet
from neuronedit import EditLog, ManifestError, apply_edit_, save_edited
from neuronedit.data import load
from neuronedit.edits import restoring
from neuronedit.unlearn import unlearn
from neuronedit.unlearn.losses import ascent, kl_to_reference, max_entropy, nll
from neuronedit.unlearn.train import UNLEARNING_METHODS, _forget_objectives

PAIRS = [("the nurse said that she was home", "the nurse said that he was home"),
         ("the engineer said that he was loud", "the engineer said that she was loud"),
         ("the secretary said that she was angry", "the secretary said that he was angry"),
         ("the mechanic said that he was poor", "the mechanic said that she was poor")]


def _fake_batch(tokens: list[int]):
    class B:  # only what the losses read
        term_token = torch.tensor(tokens)
    return B()


def test_losses_and_gradients_by_hand():
    torch.manual_seed(0)
    logits = torch.randn(3, 7, dtype=torch.float64, requires_grad=True)
    tokens = [2, 5, 0]
    batch = _fake_batch(tokens)
    p = torch.softmax(logits.detach(), dim=1)
    onehot = torch.nn.functional.one_hot(torch.tensor(tokens), 7).double()

    value = ascent(torch.log_softmax(logits, 1), batch)
    assert float(value.detach()) == pytest.approx(sum(math.log(float(p[i, t])) for i, t in enumerate(tokens)) / 3)
    (grad,) = torch.autograd.grad(value, logits)
    torch.testing.assert_close(grad, (onehot - p) / 3)

    value = nll(torch.log_softmax(logits, 1), batch)
    (grad,) = torch.autograd.grad(value, logits)
    torch.testing.assert_close(grad, (p - onehot) / 3)

    value = max_entropy(torch.log_softmax(logits, 1), batch)
    by_hand = sum(sum((1 / 7) * (math.log(1 / 7) - math.log(float(p[i, v]))) for v in range(7)) for i in range(3)) / 3
    assert float(value.detach()) == pytest.approx(by_hand)
    (grad,) = torch.autograd.grad(value, logits)
    torch.testing.assert_close(grad, (p - 1 / 7) / 3)
    uniform = torch.zeros(1, 7, dtype=torch.float64, requires_grad=True)
    assert float(max_entropy(torch.log_softmax(uniform, 1), _fake_batch([0])).detach()) == pytest.approx(0, abs=1e-12)

    reference = torch.log_softmax(torch.randn(3, 7, dtype=torch.float64), 1)
    value = kl_to_reference(torch.log_softmax(logits, 1), reference)
    q = reference.exp()
    assert float(value.detach()) == pytest.approx(float((q * (reference - p.log())).sum() / 3))
    (grad,) = torch.autograd.grad(value, logits)
    torch.testing.assert_close(grad, (p - q) / 3)


def test_spans_derived_from_pairs_mark_only_the_differing_tokens():
    tok = tiny_tokenizer()
    tok.bos_token = "[EOS]"
    marked, counterpart, _pairs = _forget_objectives(PAIRS[:2], None, UNLEARNING_METHODS["dual"])
    rows = marked.encode(tok).rows
    assert [[tok.convert_ids_to_tokens(t) for _, t, _ in r.terms] for r in rows] == [["she"], ["he"]]
    assert [[tok.convert_ids_to_tokens(t) for _, t, _ in r.terms] for r in counterpart.encode(tok).rows] == [
        ["he"], ["she"]]
    whole, none, _ = _forget_objectives(PAIRS[:1], None, UNLEARNING_METHODS["gradient_ascent"])
    assert none is None and len(whole.encode(tok).rows[0].terms) == 7
    from neuronedit.data.items import PairItem
    prefixed = PairItem(more="she was home", less="he was home", bias_type="gender", id="x", source="t",
                        prefix="the nurse said that")
    obj, _, _ = _forget_objectives([prefixed], None, UNLEARNING_METHODS["masked_token"])
    (row,) = obj.encode(tok).rows
    assert [tok.convert_ids_to_tokens(t) for _, t, _ in row.terms] == ["she"]
    with pytest.raises(ValueError, match="plain texts mark none: give minimal pairs"):
        _forget_objectives(["the nurse was home"], None, UNLEARNING_METHODS["masked_token"])
    with pytest.raises(ValueError, match="needs minimal pairs"):
        _forget_objectives(["the nurse was home"], [[(0, 3)]], UNLEARNING_METHODS["dual"])


def test_masked_token_lowers_the_marked_tokens_and_is_deterministic():
    lm = tiny_lm()
    edit = unlearn(lm, PAIRS, "masked_token", lr=3e-3, steps=12, batch_size=2, eval_every=4,
                   max_retain_ppl_increase=None)
    history = edit.provenance["history"]
    assert history[-1]["forget_logprob"] < history[0]["forget_logprob"] - 0.05
    assert EditLog.of(lm).applied_ids == [edit.id] and edit.mode == "unlearn" and edit.delta_sha256
    again = unlearn(tiny_lm(), PAIRS, "masked_token", lr=3e-3, steps=12, batch_size=2, eval_every=4,
                    max_retain_ppl_increase=None)
    assert again.delta_sha256 == edit.delta_sha256


def test_confined_unlearning_changes_only_the_neurons_parameters():
    lm = tiny_lm()
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    neurons = NeuronSet([(0, 3), (1, 10), (1, 11)])
    edit = unlearn(lm, PAIRS, "masked_token", neurons=neurons, lr=1e-2, steps=6, batch_size=2, eval_every=3,
                   max_retain_ppl_increase=None)
    after = lm.model.state_dict()
    allowed: dict[str, torch.Tensor] = {k: torch.zeros_like(v, dtype=torch.bool) for k, v in before.items()}
    for layer, idx in neurons.by_layer().items():
        allowed[f"model.layers.{layer}.mlp.down_proj.weight"][:, idx] = True
        allowed[f"model.layers.{layer}.mlp.gate_proj.weight"][idx] = True
        allowed[f"model.layers.{layer}.mlp.up_proj.weight"][idx] = True
    changed_somewhere = False
    for name, value in before.items():
        outside = ~allowed[name]
        assert torch.equal(after[name][outside], value[outside]), name
        changed_somewhere |= not torch.equal(after[name], value)
    assert changed_somewhere and edit.neurons == neurons and edit.provenance["confined"]
    assert 0 < edit.provenance["changed_entries"] <= sum(int(m.sum()) for m in allowed.values())


def test_unlearning_edit_saves_and_replays_bit_for_bit(tmp_path):
    lm = tiny_lm()
    edit = unlearn(lm, PAIRS, "dual", lr=3e-3, steps=4, batch_size=2, eval_every=2, kl_weight=1.0,
                   max_retain_ppl_increase=None)
    ids = torch.tensor([[3, 7, 9, 4, 12], [6, 11, 13, 3, 9]])
    with torch.no_grad():
        expected = lm.model(ids).logits
    out = save_edited(lm, tmp_path / "ckpt")
    assert (out / edit.delta).is_file()
    plain = AutoModelForCausalLM.from_pretrained(out).eval()
    with torch.no_grad():
        torch.testing.assert_close(plain(ids).logits, expected, atol=1e-6, rtol=0)
    fresh = tiny_lm()
    assert apply_edit_(fresh, out) == [edit]
    edited = lm.model.state_dict()
    assert all(torch.equal(v, edited[k]) for k, v in fresh.model.state_dict().items())
    assert apply_edit_(fresh, out) == []
    (out / edit.delta).write_bytes(b"damaged")
    with pytest.raises(ManifestError, match="SHA-256"):
        apply_edit_(tiny_lm(), out)


def test_retain_ceiling_rolls_back_and_restoring_undoes_everything():
    lm = tiny_lm()
    before = {k: v.clone() for k, v in lm.model.state_dict().items()}
    with restoring(lm):
        edit = unlearn(lm, PAIRS, "gradient_ascent", lr=5e-2, steps=4, batch_size=2, eval_every=2,
                       monitor=[" ".join(p) for p in PAIRS], retain_weight=0.0, max_retain_ppl_increase=0.0)
        assert "ceiling" in edit.provenance["stopped"] and "rolled back to step 0" in edit.provenance["stopped"]
        assert edit.provenance["changed_entries"] == 0
    assert all(torch.equal(v, before[k]) for k, v in lm.model.state_dict().items())
    assert EditLog.of(lm).applied_ids == []


def test_ceiling_watches_real_text_never_trained_on():
    from neuronedit.data.realtext import monitor_sentences

    lm = tiny_lm()
    edit = unlearn(lm, PAIRS, "masked_token", lr=1e-3, steps=2, batch_size=2, eval_every=2)
    assert edit.provenance["monitor_texts"] == 48 and edit.provenance["retain_texts"] > 0
    text = load("text:bundled").text
    first_20k_tokens = text[: len(text) // 5]  # far beyond the 20,000 tokens the reports score
    assert all(s[:-2] not in first_20k_tokens for s in monitor_sentences())
    assert not set(monitor_sentences()) & {" ".join(p) for p in PAIRS}


def test_knowledge_guard_rolls_back_when_knowledge_falls():
    # forgetting facts the model gets right must lower their accuracy: the guard stops and rolls back
    from neuronedit.data import PairItem
    from neuronedit.unlearn.train import _preference

    def facts(noun: str, right: str, wrong: str) -> list[PairItem]:
        return [PairItem(more=f"the {noun} said that {right} was {t}", less=f"the {noun} said that {wrong} was {t}",
                         bias_type="gender", id=f"{noun}{i}", source="test")
                for i, t in enumerate(("home", "loud", "poor", "angry", "lazy", "rich"))]

    known = facts("woman", "she", "he")
    if _preference(tiny_lm(seed=1), known) < 50:  # the tiny model prefers one pronoun: take the facts it gets right
        known = facts("man", "he", "she")
    options = dict(lr=5e-2, steps=6, batch_size=4, eval_every=1, retain_weight=0.0, max_retain_ppl_increase=None)
    lm = tiny_lm(seed=1)
    edit = unlearn(lm, known, "masked_token", knowledge=known, max_knowledge_drop=0.0, **options)
    history = edit.provenance["history"]
    assert history[0]["knowledge"] > 50
    assert "knowledge fell by more than 0.0 points" in edit.provenance["stopped"], history
    assert history[-1]["knowledge"] < history[0]["knowledge"]
    assert _preference(lm, known) == pytest.approx(history[-2]["knowledge"], abs=0.01)  # rolled back
    edit = unlearn(tiny_lm(seed=1), known, "masked_token", **options)
    assert edit.provenance["stopped"] == "steps"  # without the guard the same run goes on


def test_dual_guard_stops_at_the_crossing_and_keeps_the_state_closer_to_50():
    # reversed probes: the tiny model prefers these "stereotypical" sides 100%, dual pushes past 50%
    pairs = [(p.less, p.more) for p in list(load("probes:gender", split="dev"))[:15]]
    options = dict(batch_size=4, eval_every=1, retain_weight=0.0, max_retain_ppl_increase=None, steps=40)
    lm = tiny_lm(seed=1)
    edit = unlearn(lm, pairs, "dual", lr=2e-4, **options)
    biases = [h["held_in_bias"] for h in edit.provenance["history"]]
    assert biases[0] == 100 and biases[-2] > 50 > biases[-1]  # stopped at the first crossing
    assert edit.provenance["stopped"] == f"held-in bias crossed 50% at step {len(biases) - 1}; rolled back to step " \
                                        f"{len(biases) - 2}"
    from neuronedit.unlearn.train import _preference
    assert _preference(lm, pairs) == pytest.approx(biases[-2], abs=0.01)  # the kept state is the one before
    lm = tiny_lm(seed=1)
    edit = unlearn(lm, pairs, "dual", lr=4e-4, **options)
    biases = [h["held_in_bias"] for h in edit.provenance["history"]]
    assert biases[-2] - 50 >= 50 - biases[-1] > 0 and edit.provenance["stopped"].endswith("crossed 50% at step 2")
    assert _preference(lm, pairs) == pytest.approx(biases[-1], abs=0.01)
    with pytest.raises(ValueError, match="unknown unlearning method"):
        unlearn(lm, pairs, "forget_everything")


def test_cli_unlearn_writes_a_replayable_checkpoint(tmp_path):
    import subprocess
    import sys

    model_dir = tmp_path / "m"
    lm = tiny_lm()
    lm.model.save_pretrained(model_dir)
    lm.tokenizer.save_pretrained(model_dir)
    NeuronSet([(0, 1), (1, 2)]).save(tmp_path / "n.json")
    cmd = [sys.executable, "-m", "neuronedit", "unlearn", "--model", str(model_dir), "--forget", "probes:gender",
           "--method", "masked_token", "--neurons", str(tmp_path / "n.json"), "--lr", "1e-2", "--steps", "3",
           "--batch-size", "4", "--eval-every", "3", "--quiet", "--out", str(tmp_path / "u")]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert "stopped: steps" in done.stdout
    from neuronedit import load_manifest
    (edit,) = load_manifest(tmp_path / "u")
    assert edit.mode == "unlearn" and edit.neurons == NeuronSet([(0, 1), (1, 2)])
    assert edit.provenance["forget"] == "probes:gender" and edit.provenance["data_sha256"] == {
        "probes:gender": "built-in"}
    fresh = tiny_lm()
    apply_edit_(fresh, tmp_path / "u")
    reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "u")
    assert all(torch.equal(v, reloaded.state_dict()[k]) for k, v in fresh.model.state_dict().items())
    bad = subprocess.run(cmd[:-1] + [str(tmp_path / "v"), "--method", "dual", "--forget",
                                     "text:" + str(tmp_path / "n.json")], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "needs minimal pairs" in bad.stderr
