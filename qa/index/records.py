"""The chunk as the index keeps it (`ChunkRecord`): what retrieval and citations need of a chunk
without asking the vector store, and the file that holds an index's records."""

from __future__ import annotations

import bisect
import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

Spans = tuple[tuple[int, int], ...]


@dataclass(frozen=True)
class ChunkRecord:
    """What retrieval needs of a chunk without asking the vector store."""

    id: str
    source: str
    title: str
    date: int  # yyyymmdd, 0 when the article has no date
    start: int
    end: int
    text: str
    sentences: Spans  # (start, end) of each sentence, relative to `text`
    # (page, offset in the article where it starts) of the page the chunk starts on and of
    # each page that starts inside it; () when the article has no pages (not a PDF)
    pages: tuple[tuple[int, int], ...] = ()

    def page_at(self, offset: int) -> int | None:
        """The page of the article that holds `offset` (an article offset inside this chunk),
        None when the article has no pages. The pages listed are consecutive, so this is the
        article's own page lookup over them."""
        if not self.pages:
            return None
        first = self.pages[0][0]
        found = page_at([start for _, start in self.pages], offset)
        return first - 1 + (found or 1)

    @property
    def day(self) -> dt.date | None:
        """The article's publication date, None when it has none."""
        if not self.date:
            return None
        return dt.date(self.date // 10000, self.date // 100 % 100, self.date % 100)


def page_at(starts: Sequence[int], offset: int) -> int | None:
    """The page (from 1) that holds `offset`, given where each page starts; None unpaged.
    A page with no text starts where the next one does, and the later one is named."""
    if not starts:
        return None
    return max(1, bisect.bisect_right(starts, offset))


def index_text(title: str, text: str) -> str:
    """The text that is embedded and keyword-indexed for a chunk: its article title, then it."""
    return f"{title}\n{text}"


def write_records(path: Path, records: Sequence[ChunkRecord]) -> None:
    """Save records as JSON lines, in order."""
    with path.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(asdict(record), ensure_ascii=False) + "\n")


def read_records(path: Path) -> list[ChunkRecord]:
    """The records saved in `path`; OSError, ValueError, KeyError or TypeError when it is
    unreadable or damaged."""
    with path.open(encoding="utf-8") as f:
        return [_record(json.loads(line)) for line in f]


def _record(data: dict[str, Any]) -> ChunkRecord:
    """A record from its JSON line (spans come back as lists)."""
    data["sentences"] = tuple((int(s), int(e)) for s, e in data["sentences"])
    data["pages"] = tuple((int(p), int(s)) for p, s in data.get("pages", ()))
    return ChunkRecord(**data)
