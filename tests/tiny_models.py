"""Tiny random models built from configs (no download) for every covered architecture."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM, PreTrainedTokenizerFast

from attributions import LanguageModel

VOCAB = 100
_COMMON: dict[str, Any] = dict(vocab_size=VOCAB)
_DECODER: dict[str, Any] = dict(
    hidden_size=32, num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=1, intermediate_size=48
)

TINY_CONFIGS: dict[str, dict[str, Any]] = {
    "gpt2": dict(n_embd=32, n_layer=2, n_head=2, n_positions=64, n_inner=48, bos_token_id=0, eos_token_id=0),
    "gpt_neo": dict(
        hidden_size=32, num_layers=2, num_heads=2, intermediate_size=48, max_position_embeddings=64,
        attention_types=[[["global", "local"], 1]], bos_token_id=0, eos_token_id=0,
    ),
    "gpt_neox": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48),
    "opt": dict(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, ffn_dim=48, word_embed_proj_dim=32,
        max_position_embeddings=64,
    ),
    "llama": _DECODER,
    "mistral": _DECODER,
    "qwen2": _DECODER,
    "qwen3": dict(_DECODER, head_dim=16),
    "gemma": dict(_DECODER, head_dim=16),
    "gemma2": dict(_DECODER, head_dim=16),
    "phi": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48),
    "phi3": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48, pad_token_id=0,
                 bos_token_id=0, eos_token_id=0),
    "bert": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48),
    "roberta": dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=48, pad_token_id=1),
}
MASKED_LM = {"bert", "roberta"}
MLP_WIDTH = 48


def tiny_model(model_type: str, seed: int = 0) -> torch.nn.Module:
    """A random 2-layer model of ``model_type`` in eval mode (float32)."""
    config = AutoConfig.for_model(model_type, **_COMMON, **TINY_CONFIGS[model_type])
    torch.manual_seed(seed)
    cls = AutoModelForMaskedLM if model_type in MASKED_LM else AutoModelForCausalLM
    model = cls.from_config(config)
    return model.eval()


WORDS = [
    "the", "a", "nurse", "engineer", "doctor", "secretary", "mechanic", "said", "that", "he", "she", "they", "was",
    "is", "of", "to", "and", "in", "capital", "france", "paris", "city", "man", "woman", "people", "work", "home",
    "black", "white", "muslim", "christian", "hindu", "jewish", "neighbor", "family", "lived", "poor", "rich",
    "loud", "lazy", "angry",
]


def tiny_tokenizer() -> PreTrainedTokenizerFast:
    """A lower-casing, whitespace word-level tokenizer over ``WORDS`` (ids < 60), with pad/unk/eos."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers

    vocab = {"[PAD]": 0, "[UNK]": 1, "[EOS]": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    vocab["[MASK]"] = len(vocab)
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="[PAD]", unk_token="[UNK]", eos_token="[EOS]",
                                   mask_token="[MASK]")


def tiny_lm(arch: str = "llama", seed: int = 0, *, bos: bool = True, name: str | None = None,
            dtype: torch.dtype | None = None, bias_std: float = 0.0) -> LanguageModel:
    """``tiny_model(arch, seed)`` with ``tiny_tokenizer()`` as an :class:`attributions.LanguageModel`.

    Args:
        bos: give the tokenizer ``[EOS]`` as its start token (as the checkpoints of ``tiny_model_dir`` do);
            False keeps the tokenizer without one (sequences then start with EOS all the same).
        name: the model's name (it goes into edit records and score metadata); default ``tiny-<arch>``.
        dtype: cast the model (e.g. ``torch.float64`` for exact comparisons).
        bias_std: draw every bias from N(0, bias_std) (non-zero biases exercise the edits' bias handling).
    """
    tok = tiny_tokenizer()
    if bos:
        tok.bos_token = "[EOS]"
    model = tiny_model(arch, seed)
    if bias_std:
        with torch.no_grad():
            for param_name, param in model.named_parameters():
                if param_name.endswith("bias"):
                    param.normal_(0, bias_std)
    if dtype is not None:
        model = model.to(dtype)
    return LanguageModel(model=model, tokenizer=tok, name=f"tiny-{arch}" if name is None else name)


def tiny_model_dir(path: Path, model_type: str = "llama", seed: int = 0) -> Path:
    """Save a tiny model and its tokenizer (with a start token) as a checkpoint directory."""
    model = tiny_model(model_type, seed)
    tok = tiny_tokenizer()
    tok.bos_token = "[EOS]"
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path

