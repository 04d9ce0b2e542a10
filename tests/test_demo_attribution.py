"""Attribution on the demo model: captum parity, and the notebook runs end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from attributions import NeuronSet, PairPreference, TokenContrast, attribute
from attributions.forward import collate, row_values

pytestmark = pytest.mark.slow

PAIRS = [("The nurse said that she would be late.", "The nurse said that he would be late."),
         ("The mechanic said that he was tired.", "The mechanic said that she was tired.")]


def test_demo_grad_x_act_equals_captum(demo_lm):
    from captum.attr import LayerGradientXActivation

    objective = PairPreference(PAIRS)
    ours = attribute(demo_lm, objective, "grad_x_act")
    encoded = objective.encode(demo_lm.tokenizer)
    batch = collate(encoded.rows, demo_lm.tokenizer.pad_token_id)
    scale = float(ours.scores.abs().max())
    for site in demo_lm.sites:
        attr = LayerGradientXActivation(lambda ids: row_values(demo_lm.model, batch), site.module).attribute(
            batch.ids, attribute_to_layer_input=True)
        expected = attr.sum(dim=1).sum(dim=0) / encoded.n_examples
        assert (ours.scores[site.layer] - expected).abs().max() <= 1e-4 * scale, site.layer


def test_demo_integrated_gradients_equals_captum_on_one_layer(demo_lm):
    from captum.attr import LayerIntegratedGradients

    objective = TokenContrast(["The nurse said that", "The carpenter said that"], " he", " she")
    layer, steps = 20, 6
    subset = NeuronSet((layer, n) for n in range(demo_lm.sites[layer].n_neurons))
    ours = attribute(demo_lm, objective, "integrated_gradients", steps=steps, neurons=subset)
    encoded = objective.encode(demo_lm.tokenizer)
    batch = collate(encoded.rows, demo_lm.tokenizer.pad_token_id)
    n_rows = batch.ids.shape[0]
    site = demo_lm.sites[layer]
    up = site.read_in_modules[1][1]

    def forward(gate):
        handle = up.register_forward_hook(lambda m, i, out: out * gate.view(-1, 1, 1))
        try:
            return row_values(demo_lm.model, batch, repeat=gate.shape[0] // n_rows)
        finally:
            handle.remove()

    attr = LayerIntegratedGradients(forward, site.module).attribute(
        torch.ones(n_rows), baselines=torch.zeros(n_rows), n_steps=steps, method="riemann_right",
        attribute_to_layer_input=True)
    expected = attr.sum(dim=1).sum(dim=0) / encoded.n_examples
    scale = float(ours.scores[layer].abs().max())
    assert (ours.scores[layer] - expected).abs().max() <= 1e-4 * scale
    assert torch.isnan(ours.scores[layer - 1]).all()


def test_notebook_01_runs(demo_lm, tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    path = Path(__file__).resolve().parents[1] / "notebooks" / "01_attribute_biased_completion.ipynb"
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = "".join(o.get("text", "") for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs)
    assert "top 10 zeroed" in outputs and "layer" in outputs
