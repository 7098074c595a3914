"""Group an article's sentences into overlapping, sentence-aligned chunks with stable ids."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from qa.corpus.articles import Article
from qa.text import split_sentences


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one article; `start`/`end` index the article's text."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str


def chunk_article(article: Article, size: int, overlap: int) -> list[Chunk]:
    """Group the article's sentences into chunks of about `size` characters.

    Each chunk after the first repeats the last whole sentences of the one before, up to
    `overlap` characters, so that a fact split across a boundary is still found whole.
    """
    sentences = split_sentences(article.text, max_chars=size)
    groups: list[list[tuple[int, int]]] = []
    current: list[tuple[int, int]] = []
    for span in sentences:
        if current and span[1] - current[0][0] > size:
            groups.append(current)
            current = _overlap_tail(current, overlap)
            if current and span[1] - current[0][0] > size:
                current = []
        current.append(span)
    if current:
        groups.append(current)
    config = chunker_config(size, overlap)
    chunks = []
    for i, group in enumerate(groups):
        start, end = group[0][0], group[-1][1]
        key = f"{article.id}\x00{article.sha256}\x00{config}\x00{i}"
        chunks.append(
            Chunk(
                id=hashlib.sha256(key.encode("utf-8")).hexdigest()[:32],
                article_id=article.id,
                index=i,
                start=start,
                end=end,
                text=article.text[start:end],
            )
        )
    return chunks


def _overlap_tail(group: list[tuple[int, int]], overlap: int) -> list[tuple[int, int]]:
    tail: list[tuple[int, int]] = []
    for span in reversed(group[1:]):  # never the whole previous chunk
        if group[-1][1] - span[0] > overlap:
            break
        tail.insert(0, span)
    return tail


def chunker_config(size: int, overlap: int) -> str:
    """A string naming the chunker and its parameters, stored with the index."""
    return f"sentences-v2:size={size}:overlap={overlap}"
