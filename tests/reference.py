"""Independent slow references the fast code is tested against."""

from __future__ import annotations

import torch


@torch.no_grad()
def naive_logprob(model, tokenizer, prefix: str, text: str) -> float:
    """One sequence, no padding, no batching, full log-softmax: sum log p(text tokens | start + prefix)."""
    start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    head = [start] + (tokenizer(prefix, add_special_tokens=False)["input_ids"] if prefix else [])
    tail = tokenizer((" " + text) if prefix else text, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([head + tail])
    logprobs = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
    return float(sum(logprobs[len(head) + k - 1, tok] for k, tok in enumerate(tail)))


@torch.no_grad()
def naive_pll_equal_length(model, tokenizer, first: str, second: str) -> tuple[float, float]:
    """Masked-LM pseudo-log-likelihood of the positions where two equal-length token sequences agree,
    masking one position per forward pass."""
    a, b = tokenizer(first)["input_ids"], tokenizer(second)["input_ids"]
    assert len(a) == len(b)
    totals = []
    for ids in (a, b):
        total = 0.0
        for pos in range(len(ids)):
            if a[pos] != b[pos]:
                continue
            masked = list(ids)
            masked[pos] = tokenizer.mask_token_id
            logits = model(torch.tensor([masked])).logits[0, pos].double()
            total += float(torch.log_softmax(logits, -1)[ids[pos]])
        totals.append(total)
    return totals[0], totals[1]


def captum_layer_scores(model, site, batch, n_examples: int, *, steps: int | None = None,
                        internal_batch_size: int | None = None) -> torch.Tensor:
    """Mean per-example attribution ``[n_neurons]`` of one site from captum (the independent reference).

    ``steps=None``: ``LayerGradientXActivation``. Otherwise ``LayerIntegratedGradients`` with a zero
    layer baseline: a gate input multiplies the up-projection's output (the activation is linear in
    it for gated MLPs), so gate 0 gives a zero activation and gate 1 the real one, and captum
    integrates the layer input along the same straight path (right Riemann rule, ``steps`` steps).
    """
    from captum.attr import LayerGradientXActivation, LayerIntegratedGradients

    from attributions.forward import row_values

    n_rows = batch.ids.shape[0]
    if steps is None:
        attr = LayerGradientXActivation(lambda ids: row_values(model, batch), site.module).attribute(
            batch.ids, attribute_to_layer_input=True)
        if site.flat_block is not None:  # OPT hands captum the flattened [rows * pos, neurons] input
            attr = attr.view(n_rows, -1, attr.shape[-1])
    else:
        up = site.read_in_modules[-1][1]

        def forward(gate):
            handle = up.register_forward_hook(lambda m, i, out: out * gate.view(-1, 1, 1))
            try:
                return row_values(model, batch, repeat=gate.shape[0] // n_rows)
            finally:
                handle.remove()

        attr = LayerIntegratedGradients(forward, site.module).attribute(
            torch.ones(n_rows), baselines=torch.zeros(n_rows), n_steps=steps, method="riemann_right",
            attribute_to_layer_input=True, internal_batch_size=internal_batch_size)
    return attr.detach().sum(dim=1).sum(dim=0) / n_examples  # captum's output keeps its graph otherwise
