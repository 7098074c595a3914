"""The manifest: what an index was built with and, per article, its hash, metadata and chunk
ids. Typed here, read and written as one JSON file that is replaced atomically."""

from __future__ import annotations

import datetime as dt
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from qa.errors import IndexDamagedError

# 2: chunk records carry sentence spans, and sentence vectors are stored beside the BM25 index
FORMAT = 2


@dataclass
class ArticleEntry:
    """One indexed article: where it came from, what it was, and its chunks in the index."""

    sha256: str
    title: str
    date: str | None  # ISO date of publication
    origin: str  # the folder it was ingested from
    chunks: list[str]

    @property
    def day(self) -> dt.date | None:
        """The publication date, None when the article has none."""
        return dt.date.fromisoformat(self.date) if self.date else None


@dataclass
class Manifest:
    """The index's identity (format, model, dimension, chunker) and its articles by file name."""

    embedding_model: str
    dimension: int
    chunker: str
    format: int = FORMAT
    articles: dict[str, ArticleEntry] = field(default_factory=dict)

    def chunk_ids(self) -> set[str]:
        """Every chunk id the manifest lists."""
        return {cid for entry in self.articles.values() for cid in entry.chunks}

    def chunk_count(self) -> int:
        """How many chunks the manifest lists."""
        return sum(len(entry.chunks) for entry in self.articles.values())

    @classmethod
    def load(cls, path: Path) -> Manifest:
        """The manifest saved at `path`; IndexDamagedError naming the fix when it is unreadable."""
        try:
            data: Any = json.loads(path.read_text(encoding="utf-8"))
            return cls(
                embedding_model=str(data["embedding_model"]),
                dimension=int(data["dimension"]),
                chunker=str(data["chunker"]),
                format=int(data["format"]),
                articles={
                    str(name): ArticleEntry(
                        sha256=str(entry["sha256"]),
                        title=str(entry["title"]),
                        date=None if entry["date"] is None else str(entry["date"]),
                        origin=str(entry["origin"]),
                        chunks=[str(c) for c in entry["chunks"]],
                    )
                    for name, entry in data["articles"].items()
                },
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            reason = type(exc).__name__ if isinstance(exc, KeyError | TypeError) else exc
            raise IndexDamagedError(
                f"the index manifest {path} is damaged ({reason}): "
                "run `qa ingest`, which repairs it"
            ) from None

    def save(self, path: Path) -> None:
        """Replace the manifest at `path` atomically (written aside, fsynced, renamed)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        with tmp.open("w", encoding="utf-8") as f:
            json.dump(asdict(self), f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
