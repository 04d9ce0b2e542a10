"""The learned mask (attributions.masking): training lowers its objective, gates leave no trace, runs are
reproducible and resumable, and bad options are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from tiny_models import tiny_lm

from attributions import ATTRIBUTION_METHODS, PairPreference, attribute
from attributions.errors import InputError
from attributions.masking import HISTORY, MaskOptions, learn_mask, learned_factors
from attributions.masking.gates import (
    deterministic_gates,
    expected_closed,
    gated,
    hold_budget,
    open_location,
    sample_gates,
)
from attributions.resume import CheckpointMismatch

PAIRS = [("the nurse said that she was home", "the nurse said that he was home"),
         ("he is at work", "she is at work"), ("the man was lazy", "the woman was lazy"),
         ("the doctor said he was rich", "the doctor said she was rich"),
         ("the mechanic said he was angry", "the mechanic said she was angry"),
         ("the secretary said she was poor", "the secretary said he was poor")]
KEEP = [PairPreference([("the man said he was home", "the man said she was home"),
                        ("the woman said she was home", "the woman said he was home")])]
RETAIN = ["the people lived in the city", "paris is the capital of france", "a family lived in a city",
          "the neighbor was at home"]
OPTIONS = {"retain": RETAIN, "keep": KEEP, "budget": 4, "batch_size": 4}


def _logits(lm) -> torch.Tensor:
    ids = torch.tensor([[2, 3, 9, 10, 11, 12, 13]])
    with torch.no_grad():
        return lm.model(input_ids=ids).logits


def _run(lm, steps: int = 30, **extra):
    return attribute(lm, PairPreference(PAIRS), "learned_mask", steps=steps, **{**OPTIONS, **extra})


def _bias(lm, gates: torch.Tensor | None = None) -> float:
    """Mean objective over PAIRS, optionally with ``gates [L, N]`` applied (an independent re-computation)."""
    from attributions.forward import collate, per_example, row_values

    encoded = PairPreference(PAIRS).encode(lm.tokenizer)
    batch = collate(encoded.rows, lm.pad_id)
    with torch.no_grad():
        if gates is None:
            return float(per_example(batch, row_values(lm.model, batch).double()).mean())
        with gated(lm.sites, gates):
            return float(per_example(batch, row_values(lm.model, batch).double()).mean())


def test_training_moves_the_objective_toward_neutral_and_lowers_the_loss() -> None:
    lm = tiny_lm("llama")
    before = _bias(lm)
    scores = _run(lm, steps=60)
    assert "learned_mask" in ATTRIBUTION_METHODS and scores.meta["method"] == "learned_mask"
    gated_bias = _bias(lm, learned_factors(scores))
    assert abs(gated_bias) < 0.5 * abs(before), (before, gated_bias)
    assert scores.meta["dev_objective"]["unedited"] == pytest.approx(before, rel=1e-5)
    assert scores.meta["dev_objective"]["gated"] == pytest.approx(gated_bias, rel=1e-4, abs=1e-7)
    rows = torch.tensor(scores.meta["history"]["rows"])
    assert rows.shape == (60, len(HISTORY))
    total = rows[:, HISTORY.index("total")]
    assert float(total[-10:].mean()) < float(total[:10].mean())
    closed = rows[-1, HISTORY.index("expected_closed")]
    assert float(closed) == pytest.approx(4.0, rel=1e-4)  # the budget, held on every step
    assert scores.scores.shape == (len(lm.sites), lm.sites[0].n_neurons)


def test_the_budget_is_held_by_a_shift_that_keeps_the_order() -> None:
    start = open_location(96, 0.4)
    assert float(expected_closed(torch.full((2, 48), start))) == pytest.approx(0.4, rel=1e-4)
    assert float(deterministic_gates(torch.tensor(start))) == 1.0  # few closed: the gates start open
    log_alpha = torch.linspace(-3, 9, 96).view(2, 48)
    order = log_alpha.argsort()
    shift = hold_budget(log_alpha, 6.0)
    assert float(expected_closed(log_alpha)) == pytest.approx(6.0, rel=1e-5) and shift != 0
    assert torch.equal(log_alpha.argsort(), order)
    with pytest.raises(InputError, match="bias_weight"):
        MaskOptions(bias_weight=0.0)
    scores = _run(tiny_lm("llama"), steps=5, budget=6)
    assert float(expected_closed(-scores.scores)) == pytest.approx(6.0, rel=1e-4)
    rows = torch.tensor(scores.meta["history"]["rows"], dtype=torch.float64)
    assert torch.allclose(rows[:, HISTORY.index("expected_closed")], torch.tensor(6.0, dtype=torch.float64), rtol=1e-4)


def test_gates_restore_the_model_exactly() -> None:
    lm = tiny_lm("llama")
    before = _logits(lm)
    weights = {k: v.clone() for k, v in lm.model.state_dict().items()}
    flags = [p.requires_grad for p in lm.model.parameters()]
    _run(lm, steps=5)
    assert torch.equal(_logits(lm), before)
    assert all(torch.equal(v, weights[k]) for k, v in lm.model.state_dict().items())
    assert [p.requires_grad for p in lm.model.parameters()] == flags
    closed = torch.zeros(len(lm.sites), lm.sites[0].n_neurons)
    with pytest.raises(RuntimeError, match="boom"), gated(lm.sites, closed):
        assert not torch.equal(_logits(lm), before)  # the gates act inside the block
        raise RuntimeError("boom")
    assert torch.equal(_logits(lm), before)


def test_gate_sampling_matches_the_hard_concrete_formulas() -> None:
    log_alpha = torch.tensor([[-8.0, 0.0, 8.0]])
    assert deterministic_gates(log_alpha).tolist() == [[0.0, pytest.approx(0.5), 1.0]]
    draws = torch.stack([sample_gates(log_alpha, torch.Generator().manual_seed(s)) for s in range(2000)])
    # P(gate > 0) = sigmoid(log_alpha - beta * log(-gamma / zeta)), the term the budget is held with
    open_share = (draws > 0).double().mean(0)[0]
    expected = torch.sigmoid(log_alpha[0] - 2 / 3 * torch.log(torch.tensor(0.1 / 1.1)))
    assert torch.allclose(open_share, expected.double(), atol=0.03)
    assert float(expected_closed(log_alpha)) == pytest.approx(float((1 - expected).sum()), rel=1e-6)


def test_same_seed_same_bytes_other_seed_other_scores() -> None:
    first, second = _run(tiny_lm("llama"), steps=8), _run(tiny_lm("llama"), steps=8)
    assert torch.equal(first.scores, second.scores)
    assert first.meta["history"] == second.meta["history"]
    other = _run(tiny_lm("llama"), steps=8, seed=1)
    assert not torch.equal(first.scores, other.scores)


def test_killed_run_resumes_to_the_same_result(tmp_path: Path) -> None:
    whole = _run(tiny_lm("llama"), steps=10)

    def kill(step: int, _losses: dict[str, float]) -> None:
        if step == 6:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(tiny_lm("llama"), steps=10, checkpoint=tmp_path, checkpoint_every=4, on_step=kill)
    assert (tmp_path / "mask-state.safetensors").is_file()
    seen: list[int] = []
    resumed = _run(tiny_lm("llama"), steps=10, checkpoint=tmp_path, checkpoint_every=4,
                   on_step=lambda step, _l: seen.append(step))
    assert seen == list(range(4, 10))  # steps 0-3 came from the checkpoint saved after the 4th
    assert torch.equal(resumed.scores, whole.scores)
    assert resumed.meta["history"] == whole.meta["history"]
    with pytest.raises(CheckpointMismatch, match="different run"):
        _run(tiny_lm("llama"), steps=10, checkpoint=tmp_path, budget=3)


def test_damaged_or_edited_state_is_refused(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    path = tmp_path / "mask-state.safetensors"
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        header = handle.metadata()
    tensors = load_file(str(path))
    tensors["exp_avg_sq"][0, 0] = -1.0
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(CheckpointMismatch, match="negative"):
        _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    tensors["exp_avg_sq"][0, 0] = float("nan")
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(CheckpointMismatch, match="NaN"):
        _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    path.write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointMismatch, match="cannot be read"):
        _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    tensors["exp_avg_sq"][0, 0] = 0.0
    tensors["history"] = torch.zeros((9, len(HISTORY)), dtype=torch.float64)
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(CheckpointMismatch, match="holds 9 steps, more than steps=4"):
        _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    tensors["history"] = torch.zeros((2, len(HISTORY) + 1), dtype=torch.float64)
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(CheckpointMismatch, match="history is"):
        _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    tensors["history"] = torch.zeros((2, len(HISTORY)), dtype=torch.float64)
    tensors["log_alpha"] = tensors["log_alpha"] + 30.0  # finite, but no gate closes: no run saves that
    save_file(tensors, str(path), metadata=header)
    with pytest.raises(CheckpointMismatch, match="do not close budget=4"):
        _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)
    path.unlink()
    _run(tiny_lm("llama"), steps=4, checkpoint=tmp_path, checkpoint_every=2)


@pytest.mark.parametrize(("options", "message"), [
    ({"budget": 0}, "budget must be a whole number >= 1"),
    ({"budget": 49}, "more than half of the model.s 96 MLP neurons"),
    ({"text_weight": -1.0}, "text_weight must be >= 0"),
    ({"lr": float("nan")}, "lr must be a finite number"),
    ({"retain": []}, "needs retain texts"),
    ({"keep": []}, "needs objectives to keep"),
])
def test_bad_options_are_refused_with_the_fix(options: dict, message: str) -> None:
    with pytest.raises(InputError, match=message):
        _run(tiny_lm("llama"), steps=2, **options)


def test_unknown_option_and_subset_are_refused() -> None:
    lm = tiny_lm("llama")
    with pytest.raises(TypeError, match=r"takes no option temperature="):
        _run(lm, steps=2, temperature=0.5)
    from attributions import NeuronSet

    with pytest.raises(InputError, match="no neuron subset"):
        _run(lm, steps=2, neurons=NeuronSet([(0, 1)]))
    with pytest.raises(InputError, match="unknown option"):
        MaskOptions.from_dict({"budgett": 3})


def test_neutral_objective_is_refused() -> None:
    lm = tiny_lm("llama")
    with pytest.raises(InputError, match="already neutral"):
        learn_mask(lm, PairPreference(PAIRS), retain=RETAIN, keep=KEEP,
                   options=MaskOptions(neutral=_bias(lm), steps=2, budget=4))
