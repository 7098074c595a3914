"""The base encoder's forward pass in numpy: embeddings, transformer layers, mean pooling.

The reader runs the layers in ONNX Runtime; this pass is the reference they are checked
against, the embedding step they start from, and the sentence embedder of the base model.
"""

from __future__ import annotations

import numpy as np

from qa.cross.base import LAYER_PARTS, Base
from qa.cross.tokenizer import Batch, PairTokenizer


def embed(base: Base, batch: Batch) -> np.ndarray:
    """Word + position + type embeddings, layer-normed: (pairs, length, hidden) float32."""
    n, length = batch.ids.shape
    flat = batch.ids.reshape(-1)
    unique, inverse = np.unique(flat, return_inverse=True)
    words = base.word_rows(unique)[inverse].reshape(n, length, base.hidden)
    positions = base.array("emb.pos").reshape(-1, base.hidden)[:length]
    types = base.array("emb.type")[: base.hidden]
    x = words + positions[None] + types
    return layer_norm(x, base.array("emb.ln.w"), base.array("emb.ln.b"), base.eps)


def layer_norm(x: np.ndarray, w: np.ndarray, b: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis."""
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    out: np.ndarray = ((x - mean) / np.sqrt(var + eps) * w + b).astype(np.float32)
    return out


def _gelu(x: np.ndarray) -> np.ndarray:
    from math import erf, sqrt

    out: np.ndarray = (0.5 * x * (1.0 + np.vectorize(erf)(x / sqrt(2.0)))).astype(np.float32)
    return out


def layer(base: Base, index: int, x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """One post-norm transformer layer of the base model over padded pairs."""
    (qw, qb), (kw, kb), (vw, vb), (ow, ob), (iw, ib), (fw, fb) = (
        base.linear(index, p) for p in LAYER_PARTS
    )
    n, length, hidden = x.shape
    heads, dim = base.heads, hidden // base.heads

    def split(t: np.ndarray) -> np.ndarray:
        return t.reshape(n, length, heads, dim).transpose(0, 2, 1, 3)

    q, k, v = split(x @ qw.T + qb), split(x @ kw.T + kb), split(x @ vw.T + vb)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(dim)
    scores = np.where(mask[:, None, None, :] > 0, scores, -1e9)
    scores = np.exp(scores - scores.max(-1, keepdims=True))
    attn = scores / scores.sum(-1, keepdims=True)
    context = (attn @ v).transpose(0, 2, 1, 3).reshape(n, length, hidden)
    p = f"l{index}."
    x = layer_norm(
        x + context @ ow.T + ob, base.array(p + "aln.w"), base.array(p + "aln.b"), base.eps
    )
    ffn = _gelu(x @ iw.T + ib) @ fw.T + fb
    return layer_norm(x + ffn, base.array(p + "oln.w"), base.array(p + "oln.b"), base.eps)


def sentence_vectors(base: Base, texts: list[str], prefix: str = "query: ") -> np.ndarray:
    """The base model's L2-normalised mean-pooled embeddings (what e5 retrieves with)."""
    batch = PairTokenizer(base.vocabulary).single([prefix + t for t in texts])
    x = embed(base, batch)
    for i in range(base.layers):
        x = layer(base, i, x, batch.mask)
    m = batch.mask[..., None].astype(np.float32)
    pooled = (x * m).sum(1) / m.sum(1)
    unit: np.ndarray = pooled / np.linalg.norm(pooled, axis=1, keepdims=True)
    return unit
