"""neuronedit.explain against hand-built references: a planted neuron, brute-force top contexts,
hand-computed logit-lens projections for every covered architecture, Wilson intervals and tags."""

from __future__ import annotations

import json
import math

import pytest
import torch
from tiny_models import TINY_CONFIGS, tiny_lm

from attributions import NeuronSet, capture_activations
from neuronedit.explain import (
    contexts_of,
    corpus_windows,
    explain,
    tag_neuron,
    top_contexts,
    vocab_projection,
    wilson,
    write_out_logits,
)

PLANTED = "nurse"  # the token the planted neuron fires on
LAYER, NEURON = 1, 7


def planted_lm():
    """Tiny Llama whose neuron (1, 7) fires only on PLANTED and writes toward 'she'.

    Residual dimension 0 carries only PLANTED's embedding (nothing else writes there); the neuron's
    gate and up rows read dimension 0, so its activation is exactly 0 elsewhere and large on PLANTED.
    """
    lm = tiny_lm("llama", seed=3)
    tok, model = lm.tokenizer, lm.model
    planted, she = tok.convert_tokens_to_ids(PLANTED), tok.convert_tokens_to_ids("she")
    with torch.no_grad():
        emb = model.get_input_embeddings().weight
        emb[:, 0] = 0
        emb[planted, 0] = 30.0
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight[0] = 0
            layer.mlp.down_proj.weight[0] = 0
        mlp = model.model.layers[LAYER].mlp
        mlp.gate_proj.weight[NEURON] = 0
        mlp.up_proj.weight[NEURON] = 0
        mlp.gate_proj.weight[NEURON, 0] = 2.0
        mlp.up_proj.weight[NEURON, 0] = 2.0
        unembed = model.get_output_embeddings().weight
        direction = torch.zeros(unembed.shape[1])
        direction[1] = 1.0
        unembed[:, 1] = 0
        unembed[she, 1] = 5.0
        mlp.down_proj.weight[:, NEURON] = direction * 3.0
    return lm


def _windows(lm, n_windows=12, length=9, seed=0, planted_at=None):
    gen = torch.Generator().manual_seed(seed)
    planted = lm.tokenizer.convert_tokens_to_ids(PLANTED)
    words = [i for i in range(3, 60) if i != planted]
    windows = [[words[int(j)] for j in torch.randint(len(words), (length,), generator=gen)] for _ in range(n_windows)]
    for window, position in (planted_at or {}).items():
        windows[window][position] = planted
    return windows


def test_planted_neuron_ranks_she_first_and_fires_exactly_on_the_planted_positions():
    lm = planted_lm()
    planted_at = {1: 4, 5: 0, 9: 8}  # window -> position
    windows = _windows(lm, planted_at=planted_at)
    neurons = NeuronSet([(LAYER, NEURON), (0, 3)])
    (projection, _) = vocab_projection(lm, neurons, k=5)
    best, runner_up = projection.promoted[0], projection.promoted[1]
    assert best.token == "she" and best.value > 10 * abs(runner_up.value)
    found = top_contexts(lm, neurons, windows, n_top=3, batch_size=4)
    got = sorted(zip(found.windows[0].tolist(), found.positions[0].tolist()))
    assert got == sorted(planted_at.items())
    assert bool((found.values[0] > 1.0).all())
    contexts = contexts_of(lm, found, windows, before=2, after=1)[0]
    assert all(c.tokens[c.marked].strip() == PLANTED for c in contexts)


def _brute_force(lm, neurons, windows, n_top):
    """Per neuron: every window's maximum activation (one forward per window), stably sorted."""
    start = lm.tokenizer.bos_token_id
    rows = []
    for layer, n in neurons:
        best = []
        for index, window in enumerate(windows):
            with capture_activations([lm.sites[layer]]) as acts, torch.no_grad():
                lm.model(input_ids=torch.tensor([[start, *window]]))
            act = acts[layer][0, 1:, n].double()
            best.append((float(act.max()), index, int(act.argmax())))
        best.sort(key=lambda item: -item[0])  # stable: ties keep corpus order
        rows.append(best[:n_top])
    return rows


@pytest.mark.parametrize("batch_size", [1, 3, 16])
def test_top_contexts_equal_a_brute_force_search(batch_size):
    lm = tiny_lm("llama", seed=1)
    windows = _windows(lm, n_windows=10, length=7, seed=2)
    windows[3] = windows[3][:4]  # a short window: padding must not win
    neurons = NeuronSet([(0, 5), (1, 0), (1, 47), (0, 11)])
    found = top_contexts(lm, neurons, windows, n_top=4, batch_size=batch_size)
    for k, expected in enumerate(_brute_force(lm, neurons, windows, 4)):
        assert found.windows[k].tolist() == [w for _, w, _ in expected]
        assert found.positions[k].tolist() == [p for _, _, p in expected]
        torch.testing.assert_close(found.values[k], torch.tensor([v for v, _, _ in expected], dtype=torch.float64),
                                   atol=1e-5, rtol=0)


def _hand_projection(model, arch, layer, n):
    """W_U (g * w) by hand: the architecture's raw down-projection weight, norm scale and centring."""
    from transformers.pytorch_utils import Conv1D

    site_paths = {"gpt2": "transformer.h.{}.mlp.c_proj", "gpt_neo": "transformer.h.{}.mlp.c_proj",
                  "gpt_neox": "gpt_neox.layers.{}.mlp.dense_4h_to_h", "opt": "model.decoder.layers.{}.fc2",
                  "phi": "model.layers.{}.mlp.fc2"}
    down = model.get_submodule(site_paths.get(arch, "model.layers.{}.mlp.down_proj").format(layer))
    w = (down.weight[n] if isinstance(down, Conv1D) else down.weight[:, n]).double()  # Conv1D stores [in, out]
    if arch == "gemma2":  # the MLP output passes its own norm before the residual add
        w = w * (1 + model.model.layers[layer].post_feedforward_layernorm.weight.double())
    norms = {"gpt2": "transformer.ln_f", "gpt_neo": "transformer.ln_f", "gpt_neox": "gpt_neox.final_layer_norm",
             "opt": "model.decoder.final_layer_norm", "phi": "model.final_layernorm"}
    norm = model.get_submodule(norms.get(arch, "model.norm"))
    if isinstance(norm, torch.nn.LayerNorm):
        w = (w - w.mean()) * norm.weight.double()
    elif arch.startswith("gemma"):
        w = w * (1 + norm.weight.double())
    else:
        w = w * norm.weight.double()
    return model.get_output_embeddings().weight.double() @ w


@pytest.mark.parametrize("arch", [a for a in TINY_CONFIGS if a not in ("bert", "roberta")])
def test_projection_matches_a_hand_computation_on_every_causal_architecture(arch):
    lm = tiny_lm(arch, seed=0)
    with torch.no_grad():
        for name, param in lm.model.named_parameters():
            if "norm" in name.lower() or "ln_f" in name:
                param.normal_(0.5, 0.3)  # scales far from 1, so folding them in matters
    neurons = NeuronSet([(1, 2), (0, 40)])
    got = write_out_logits(lm, neurons)
    for k, (layer, n) in enumerate(neurons):
        # the norm scale is read off the float32 module: agreement to float32 precision
        torch.testing.assert_close(got[k], _hand_projection(lm.model, arch, layer, n), atol=1e-7, rtol=1e-6)


@pytest.mark.parametrize("arch", ["bert", "roberta"])
def test_masked_lm_projection_is_the_head_of_w_minus_the_head_of_zero(arch):
    lm = tiny_lm(arch)
    neurons = NeuronSet([(1, 3)])
    got = write_out_logits(lm, neurons)[0]
    head = lm.model.cls.predictions if arch == "bert" else lm.model.lm_head
    w = lm.sites[1].write_out[:, 3].detach()
    with torch.no_grad():
        expected = (head(w[None]) - head(torch.zeros_like(w)[None]))[0].double()
    torch.testing.assert_close(got, expected)


def test_wilson_interval_matches_a_hand_computation():
    interval = wilson(0.8, 50)  # z = 1.96: centre (0.8 + 0.0384) / 1.0768, half 1.96 * sqrt(0.0032 + 0.000384) / 1.0768
    assert math.isclose(interval.low, 0.6696, abs_tol=1e-3) and math.isclose(interval.high, 0.8876, abs_tol=1e-3)
    assert interval.low < 0.8 < interval.high and math.isnan(wilson(0.5, 0).low)


def test_tags_follow_the_stated_rules():
    assert tag_neuron("gender", [" she", " he", " her", " the"], []).tag == "pronoun-writer"
    assert tag_neuron("gender", [" woman", " mother", " queen"], []).tag == "group-term"
    contexts = ["the woman said", "his mother", "a dog", "the king"]
    tagged = tag_neuron("gender", [" the"], contexts, base_share=0.1)
    assert tagged.tag == "gendered-context" and tagged.context_share == 0.75
    assert tag_neuron("gender", [" the"], contexts, base_share=0.5).tag == "unclear"  # not above the corpus rate
    assert tag_neuron("religion", [" the"], ["the church", "a mosque"]).tag == "religion-context"
    assert tag_neuron("race", [" the"], ["the church"]).tag == "unclear"
    with pytest.raises(ValueError, match="no word list"):
        tag_neuron("age", [], [])


def test_explain_end_to_end_on_a_tiny_model(tmp_path):
    from neuronedit.explain import write_html

    lm = planted_lm()
    text = " ".join(["the nurse said that she was home"] * 4 + ["the engineer said that he was home"] * 4)
    pairs = [("the nurse said that she was home", "the nurse said that he was home")] * 6
    neurons = NeuronSet([(LAYER, NEURON), (0, 1)])
    explanation = explain(lm, neurons, text=text, window=8, max_tokens=64, n_top=3, pairs=pairs, n_boot=50)
    first = explanation.cards[0]
    assert first.name == f"L{LAYER}.N{NEURON}" and first.projection.promoted[0].token == "she"
    assert all(c.tokens[c.marked].strip() == PLANTED for c in first.contexts)
    assert first.bias is not None and first.bias.more == pytest.approx(first.bias.less)  # same nurse on both sides
    assert explanation.summary_line().startswith("of 2 gender neurons, ")
    body = json.loads(json.dumps(explanation.to_dict()))
    assert body["cards"][0]["name"] == first.name and body["summary"] == explanation.summary()
    page = write_html(explanation, tmp_path / "explain.html").read_text()
    assert f"id='{first.name}'" in page and "nurse</mark>" in page
    assert "http://" not in page and "https://" not in page and "<script" not in page
    with pytest.raises(ValueError, match="empty"):
        explain(lm, NeuronSet(), text=text)


def test_corpus_windows_cut_the_first_max_tokens():
    lm = tiny_lm()
    windows = corpus_windows(lm.tokenizer, ["the nurse said ", "that she was home " * 5], window=4, max_tokens=10)
    assert [len(w) for w in windows] == [4, 4, 2]
    assert lm.tokenizer.decode(windows[0]) == "the nurse said that"


def test_one_pass_for_several_domains_gives_the_cards_of_separate_runs():
    from neuronedit.explain import explain_domains

    lm = tiny_lm("gpt2", seed=2)
    text = " ".join(["the nurse said that she was home", "the muslim family lived in the city"] * 6)
    sets = {"gender": NeuronSet([(1, 3), (0, 9)]), "religion": NeuronSet([(0, 9), (1, 40)])}  # (0, 9) in both
    together = explain_domains(lm, sets, text=text, window=8, max_tokens=80, n_top=2)
    for domain, neurons in sets.items():
        alone = explain(lm, neurons, domain=domain, text=text, window=8, max_tokens=80, n_top=2)
        assert [c.name for c in together[domain].cards] == [c.name for c in alone.cards]
        for a, b in zip(together[domain].cards, alone.cards):
            assert a.contexts == b.contexts and a.tagging == b.tagging
            for mine, theirs in ((a.projection.promoted, b.projection.promoted),
                                 (a.projection.suppressed, b.projection.suppressed)):
                assert [t.id for t in mine] == [t.id for t in theirs]
                assert [t.value for t in mine] == pytest.approx([t.value for t in theirs], abs=1e-12)


def test_a_model_without_a_final_norm_projects_the_raw_column():
    lm = tiny_lm("opt", seed=0)
    lm.model.model.decoder.final_layer_norm = None  # post-LN OPT (e.g. opt-350m) has none
    got = write_out_logits(lm, NeuronSet([(1, 4)]))[0]
    column = lm.model.model.decoder.layers[1].fc2.weight[:, 4].double()
    expected = lm.model.get_output_embeddings().weight.double() @ column
    torch.testing.assert_close(got, expected.detach())


def test_context_tokens_keep_their_spaces_for_tokenizers_that_strip_a_lone_token():
    """Decoding token by token drops SentencePiece's leading space; contexts are decoded incrementally."""
    from neuronedit.explain.contexts import decode_pieces

    words = {1: " the", 2: " nurse", 3: " said"}

    class Stripping:  # decodes like SentencePiece: a lone token loses its leading space
        def decode(self, ids):
            return "".join(words[i] for i in ids).lstrip(" ")

    assert decode_pieces(Stripping(), [1, 2, 3]) == ["the", " nurse", " said"]


def test_side_activations_average_the_text_tokens_only_not_the_prefix():
    from neuronedit.explain.bias import side_activations
    from neuronedit.measure.scoring import encode_request

    lm = tiny_lm("llama", seed=4)
    neurons = NeuronSet([(1, 3), (0, 8)])
    requests = [("the nurse said that", "she was home"), ("", "he was home"), ("a doctor", "they work")]
    got = side_activations(lm, neurons, requests, batch_size=2)
    for row, (prefix, text) in enumerate(requests):
        ids, begin = encode_request(lm.tokenizer, prefix, text)
        for k, (layer, n) in enumerate(neurons):
            with capture_activations([lm.sites[layer]]) as acts, torch.no_grad():
                lm.model(input_ids=torch.tensor([ids]))
            assert got[row, k] == pytest.approx(float(acts[layer][0, begin:, n].double().mean()), abs=1e-6)
