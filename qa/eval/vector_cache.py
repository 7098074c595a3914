"""Vectors of passages and questions cached on disk per embedder, so nothing is embedded twice.

Files live under `<folder>/<model id>/<name>.npy`, with a .json beside each holding the sha1 of
every text (row for row) and the milliseconds each took to embed. Only texts never seen are
embedded, and the files are rewritten after every batch, so a stopped run keeps its work.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from qa.index.embeddings import Embedder, Vectors

Say = Callable[[str], None]
Embed = Callable[[list[str]], tuple[Vectors, list[float]]]  # texts → vectors, ms per text
REPEATS = 3  # passes over the questions when timing them


class VectorCache:
    """One embedder's vectors of passages and of questions, per set, under `folder/<model id>/`;
    only texts never embedded before are embedded. Questions keep the ms each one took."""

    def __init__(self, folder: Path, embedder: Embedder, say: Say) -> None:
        self.embedder = embedder
        self.folder = folder / embedder.model_id
        self.say = say

    def passages(self, set_name: str, texts: Sequence[str]) -> Vectors:
        """The passages' vectors, row for row (embedded 64 at a time, saved after each batch)."""
        return self._lookup(f"{set_name}-passages", texts, self._passage_batch, 64)[0]

    def queries(self, set_name: str, texts: Sequence[str]) -> tuple[Vectors, list[float]]:
        """The questions' vectors and the ms each takes to embed, one at a time with the model
        warm: the least of REPEATS passes over all of them, as other work on shared cores
        stalls a process for whole stretches of a pass."""
        return self._lookup(f"{set_name}-queries", texts, self._query_batch, len(texts))

    def _passage_batch(self, texts: list[str]) -> tuple[Vectors, list[float]]:
        started = time.perf_counter()
        vectors = self.embedder.embed_documents(texts)
        return vectors, [(time.perf_counter() - started) * 1000 / len(texts)] * len(texts)

    def _query_batch(self, texts: list[str]) -> tuple[Vectors, list[float]]:
        self.embedder.embed_query("warm up")  # loading the model is not query time
        best = [float("inf")] * len(texts)
        rows: list[Vectors] = []
        for _ in range(REPEATS):
            for i, text in enumerate(texts):
                started = time.perf_counter()
                vector = self.embedder.embed_query(text)
                best[i] = min(best[i], (time.perf_counter() - started) * 1000)
                if len(rows) < len(texts):
                    rows.append(vector)
        return np.stack(rows), best

    def _lookup(
        self, name: str, texts: Sequence[str], embed: Embed, batch: int
    ) -> tuple[Vectors, list[float]]:
        path = self.folder / f"{name}.npy"
        keys: list[str] = []
        ms: list[float] = []
        vectors = np.zeros((0, 0), dtype=np.float32)
        if path.exists():
            meta = json.loads(path.with_suffix(".json").read_text(encoding="utf-8"))
            vectors = np.load(path)
            keys, ms = meta["keys"][: len(vectors)], meta["ms"][: len(vectors)]
        wanted = [_sha(t) for t in texts]
        known = set(keys)
        missing = list(
            dict.fromkeys(t for t, k in zip(texts, wanted, strict=True) if k not in known)
        )
        clock = time.perf_counter()
        for i in range(0, len(missing), max(batch, 1)):
            piece = missing[i : i + batch]
            new, took = embed(piece)
            vectors = new if not keys else np.concatenate([vectors, new])
            keys += [_sha(t) for t in piece]
            ms += [round(t, 3) for t in took]
            self._save(path, vectors, keys, ms)
            done = i + len(piece)
            rate = done / (time.perf_counter() - clock)
            self.say(f"{self.embedder.model_id} {name}: {done}/{len(missing)} ({rate:.1f}/s)")
        row = {k: i for i, k in enumerate(keys)}
        rows = [row[k] for k in wanted]
        return vectors[rows], [ms[r] for r in rows]

    @staticmethod
    def _save(path: Path, vectors: Vectors, keys: list[str], ms: list[float]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.with_suffix(".tmp.npy").open("wb") as f:
            np.save(f, vectors)
        os.replace(path.with_suffix(".tmp.npy"), path)
        meta = path.with_suffix(".json")
        meta.with_suffix(".tmp").write_text(json.dumps({"keys": keys, "ms": ms}), encoding="utf-8")
        os.replace(meta.with_suffix(".tmp"), meta)


def _sha(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()
