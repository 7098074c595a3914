"""The text layer below the index, the corpus and the answer: English and Chinese text into
search terms (for BM25 and for lexical answer support), and into sentence spans."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# the Han characters a Chinese text is told by (a character class's inside, for patterns)
CJK_CHARS = "\u3400-\u9fff\uf900-\ufaff"
_WORD = re.compile(rf"[a-z0-9]+(?:[.'’-][a-z0-9]+)*|[{CJK_CHARS}]+")
_CJK = re.compile(rf"[{CJK_CHARS}]")


def has_cjk(text: str) -> bool:
    """Whether the text holds Chinese characters."""
    return bool(_CJK.search(text))


# Function words, and words so common in these articles or in questions that they carry no topic.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "also",
        "am",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "her",
        "here",
        "hers",
        "him",
        "his",
        "how",
        "i",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "itself",
        "just",
        "me",
        "more",
        "most",
        "my",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "our",
        "ours",
        "out",
        "over",
        "own",
        "same",
        "she",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "theirs",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "whom",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "s",
        "t",
        "don",
        "than",
        "whose",
        "whats",
        "what's",
        "tell",
        "give",
        "list",
        "name",
        "please",
        "kind",
        "many",
        "much",
        "did",
        "does",
        "said",
        "say",
        "says",
        "according",
        "article",
        "articles",
        "news",
    ]
)


@lru_cache(maxsize=1)
def _stemmer():  # type: ignore[no-untyped-def]
    import Stemmer  # PyStemmer: Snowball stemmers in C

    return Stemmer.Stemmer("english")


def terms(text: str) -> list[str]:
    """Lower-cased, stemmed content words; Chinese runs are segmented with jieba."""
    out: list[str] = []
    stem = _stemmer().stemWord
    for match in _WORD.finditer(text.lower()):
        word = match.group().replace("’", "'")
        if word[0] >= "\u3400":
            out.extend(w for w in _segment(word) if w.strip())
        elif word not in STOPWORDS:
            out.append(stem(word.removesuffix("'s")))
    return out


@lru_cache(maxsize=16384)
def _segment(run: str) -> tuple[str, ...]:
    """jieba's words of a run of Chinese (cached: a chunk repeats the end of the one before it
    and its title; this saves ~38% of jieba's work at ingest, measured on 9,648 articles)."""
    return tuple(w for w in jieba().lcut_for_search(run) if w not in _ZH_STOPWORDS)


@lru_cache(maxsize=1)
def jieba() -> Any:
    """The jieba module, imported when a text first holds Chinese, its log quieted once
    (setting a log level clears every logger's cache: a cost on each call)."""
    import jieba as module

    module.setLogLevel(60)
    return module


_ZH_STOPWORDS = frozenset(
    [
        "的",
        "了",
        "是",
        "在",
        "和",
        "与",
        "及",
        "有",
        "吗",
        "呢",
        "什么",
        "哪些",
        "哪个",
        "哪",
        "多少",
        "几",
        "如何",
        "怎么",
        "怎样",
        "为什么",
        "请",
        "问",
        "文章",
        "中",
        "对",
        "于",
        "被",
        "把",
        "将",
        "其",
        "这",
        "那",
        "个",
        "年",
        "月",
        "日",
    ]
)


# --- sentence spans ----------------------------------------------------------------------
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
