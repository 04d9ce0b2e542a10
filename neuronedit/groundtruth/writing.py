"""Writing a planted neuron into the weights of any registered MLP layout.

With ``z = r . x - offset`` (``r`` the read direction scaled to unit spread on neutral text):

* a plain MLP (``f(W x + b)``: GPT-2's Conv1D, OPT, GPT-NeoX, Phi) gets read row ``sign * r`` and
  bias ``-sign * offset`` (without a bias entry, the row ``sign * (r - offset * unit)``), so the
  neuron's activation is ``f(sign * z)``;
* a gated MLP (``act(gate . x) * (up . x)``: Llama, Mistral, Qwen, Gemma; Phi-3's fused gate-up,
  the gate being the registry's first read-in view) gets gate row ``sign * (r - offset * unit)``
  and up row ``unit`` (``unit . x`` is close to 1), so its activation is ``act(sign * z)``;
* the write row is ``sign * gain * w``.

Two neurons of opposite sign therefore add ``gain * (f(z) - f(-z)) * w = gain * z * w``: ReLU, GELU
(exact and tanh) and SiLU all satisfy ``f(z) - f(-z) = z``. Each neuron alone is a rectified detector
of one side of the read direction (say, female contexts; its partner: male contexts).
"""

from __future__ import annotations

import torch

from attributions.errors import InputError
from attributions.sites import NeuronSite

__all__ = ["set_gain", "write_neuron"]


@torch.no_grad()
def write_neuron(site: NeuronSite, neuron: int, *, read: torch.Tensor, offset: float, unit: torch.Tensor,
                 write: torch.Tensor, gain: float, sign: int) -> None:
    """Overwrite neuron ``neuron`` of ``site`` (its read-in rows and biases, its write row) in place.

    ``read``, ``unit``: ``[d_model]`` in the MLP input's space; ``write``: ``[d_model]`` of the residual stream.
    """
    views = list(site.read_rows())
    if len(views) not in (1, 2):
        raise InputError(f"layer {site.layer} ({site.name}) has {len(views)} read-in views; a neuron can be planted "
                         "in a plain MLP (one read-in projection) or a gated one (gate, then up)")
    rows, bias = views[0]
    centred = read - offset * unit
    if len(views) == 1 and bias is not None:
        rows[neuron] = (sign * read).to(rows.dtype)
        bias[neuron] = -sign * offset
    else:
        rows[neuron] = (sign * centred).to(rows.dtype)
        if bias is not None:
            bias[neuron] = 0
    if len(views) == 2:
        up, up_bias = views[1]
        up[neuron] = unit.to(up.dtype)
        if up_bias is not None:
            up_bias[neuron] = 0
    out = site.write_rows()
    out[neuron] = (sign * gain * write).to(out.dtype)


@torch.no_grad()
def set_gain(site: NeuronSite, neuron: int, write: torch.Tensor, gain: float, sign: int) -> None:
    """Rescale a planted neuron's write row to ``sign * gain * write`` (``[d_model]``)."""
    out = site.write_rows()
    out[neuron] = (sign * gain * write).to(out.dtype)
