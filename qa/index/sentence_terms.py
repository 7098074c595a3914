"""Each sentence's BM25 terms, stored at ingest as ids into the BM25 vocabulary, so that the
answer stage reads the terms of a retrieved sentence instead of segmenting it again (jieba took
~40% of the answer stage on first-time questions)."""

from __future__ import annotations

import shutil
from collections.abc import Iterable
from functools import cached_property
from pathlib import Path

import numpy as np

from qa.text import terms

IDS = "sentence_terms.npy"  # the distinct term ids of every sentence, one after another
AT = "sentence_terms_at.npy"  # sentence i's ids are ids[at[i]:at[i + 1]]


class SentenceTerms:
    """The stored term sets of the sentences of an index, by sentence row."""

    def __init__(self, ids: np.ndarray, at: np.ndarray, vocabulary: dict[str, int]) -> None:
        self._ids = ids
        self._at = at
        self._vocabulary = vocabulary

    @classmethod
    def load(cls, folder: Path, sentences: int, vocabulary: dict[str, int]) -> SentenceTerms | None:
        """The stored terms of `sentences` sentences (None when the index keeps none: the
        answer stage segments them then); ValueError when the files are damaged."""
        if not (folder / IDS).exists() or not (folder / AT).exists():
            return None
        ids = np.load(folder / IDS, mmap_mode="r")
        at = np.load(folder / AT, mmap_mode="r")
        if ids.ndim != 1 or at.shape != (sentences + 1,) or at[0] != 0 or at[-1] != len(ids):
            raise ValueError("the sentence terms do not match the sentences")
        outside = len(ids) and (ids.min() < 0 or ids.max() >= len(vocabulary))
        if outside or np.any(np.diff(at) < 0):
            raise ValueError("the sentence terms are garbled")
        return cls(ids, at, vocabulary)

    @cached_property
    def _names(self) -> list[str]:
        names = [""] * len(self._vocabulary)
        for name, i in self._vocabulary.items():
            names[i] = name
        return names

    def of(self, start: int, end: int) -> list[frozenset[str]]:
        """The terms of the sentence rows [start, end)."""
        names, at = self._names, self._at[start : end + 1]
        ids = self._ids[at[0] : at[-1]].tolist()
        base = int(at[0])
        return [
            frozenset(names[i] for i in ids[a - base : b - base])
            for a, b in zip(at[:-1].tolist(), at[1:].tolist(), strict=True)
        ]


class SentenceTermsWriter:
    """Stores the term sets of an index's sentences in a folder, record by record, as ids
    into `vocabulary` (a term no chunk holds joins it); a context manager."""

    def __init__(self, folder: Path, vocabulary: dict[str, int]) -> None:
        self.folder = folder
        self.vocabulary = vocabulary
        self._raw = (folder / (IDS + ".raw")).open("wb")
        self._at = [0]

    def add(self, sets: list[frozenset[str]]) -> None:
        """The term sets of the next record's sentences."""
        for held in sets:
            ids = sorted(self.vocabulary.setdefault(t, len(self.vocabulary)) for t in held)
            self._raw.write(np.asarray(ids, dtype="<i4").tobytes())
            self._at.append(self._at[-1] + len(ids))

    def __enter__(self) -> SentenceTermsWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._raw.close()
        raw = self.folder / (IDS + ".raw")
        if exc[0] is None:
            with (self.folder / IDS).open("wb") as out, raw.open("rb") as f:
                header = {"descr": "<i4", "fortran_order": False, "shape": (self._at[-1],)}
                np.lib.format.write_array_header_1_0(out, header)
                shutil.copyfileobj(f, out)
            np.save(self.folder / AT, np.asarray(self._at, dtype=np.int64))
        raw.unlink()


def segmented(sentences: Iterable[str]) -> list[frozenset[str]]:
    """The term sets of sentences, segmented now."""
    return [frozenset(terms(text)) for text in sentences]
