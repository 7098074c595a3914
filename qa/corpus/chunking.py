"""Split cleaned article text into sentences and into overlapping, sentence-aligned chunks."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from qa.corpus.articles import Article

# Candidate sentence ends: Chinese/English terminal punctuation plus closing quotes or brackets.
_END = re.compile(r"(?:[。！？；!?]+|\.+)[”’\"'」』）)\]]*")
_ABBREVIATIONS = frozenset(
    [
        "co",
        "ltd",
        "inc",
        "corp",
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "no",
        "nos",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "fig",
        "approx",
        "dept",
        "govt",
    ]
)
_INITIAL = re.compile(r"[A-Z]|(?:[A-Za-z]\.)+[A-Za-z]")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass(frozen=True)
class Chunk:
    """A run of whole sentences of one article; `start`/`end` index the article's text."""

    id: str
    article_id: str
    index: int
    start: int
    end: int
    text: str


def split_sentences(text: str, max_chars: int = 1000) -> list[tuple[int, int]]:
    """Return (start, end) spans of the sentences of `text`, stripped of surrounding space.

    Paragraph breaks always end a sentence; a sentence longer than `max_chars` is cut at the
    last space or comma before the limit so that no span is unboundedly long.
    """
    spans: list[tuple[int, int]] = []
    for para in re.finditer(r"[^\n]+", text):
        start = para.start()
        for match in _END.finditer(para.group()):
            end = para.start() + match.end()
            if _is_boundary(text, para.start() + match.start(), end, para.end()):
                spans.extend(_trimmed(text, start, end, max_chars))
                start = end
        spans.extend(_trimmed(text, start, para.end(), max_chars))
    return spans


def _is_boundary(text: str, punct: int, end: int, para_end: int) -> bool:
    if end >= para_end:
        return True
    if text[punct] != ".":
        return True  # 。！？；!? always end a sentence
    after = text[end]
    word = re.search(r"([A-Za-z.]+)$", text[max(0, punct - 8) : punct])
    if word and word.group(1).lower().strip(".") in _ABBREVIATIONS:
        return False
    if word and _INITIAL.fullmatch(word.group(1)):
        return False  # "Niels B. Christiansen", "the U.S. Open": an initial or an acronym
    if after.isspace():
        nxt = text[end : end + 3].lstrip()[:1]
        return bool(nxt) and (
            nxt.isupper() or nxt.isdigit() or nxt in "“\"‘'(" or bool(_CJK.match(nxt))
        )
    # "…in the city.Focus on…": sentences glued without a space in machine-made text
    return after.isupper() and punct > 0 and text[punct - 1].islower()


def _trimmed(text: str, start: int, end: int, max_chars: int) -> list[tuple[int, int]]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    pieces: list[tuple[int, int]] = []
    while end - start > max_chars:
        window = text[start : start + max_chars]
        cut = max(window.rfind(" "), window.rfind(","), window.rfind("，"))
        cut = start + (cut + 1 if cut > max_chars // 2 else max_chars)
        pieces.append((start, cut))
        start = cut
        while start < end and text[start].isspace():
            start += 1
    if end > start:
        pieces.append((start, end))
    return pieces


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
