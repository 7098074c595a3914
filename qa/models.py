"""The typed, frozen, JSON-serialisable results: Answer, Citation and Passage."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True)


class Passage(_Frozen):
    """One retrieved chunk, best first; `score` is its fused retrieval score."""

    rank: int
    source: str
    chunk_id: str
    text: str
    score: float


class Citation(_Frozen):
    """The evidence for one `[n]` in an answer: a verbatim sentence and where it is."""

    n: int
    source: str
    title: str
    date: dt.date | None
    quote: str
    start: int
    end: int
    verified: bool


class Answer(_Frozen):
    """An answer with its citations, the passages it was drawn from and stage timings (ms)."""

    question: str
    text: str
    refused: bool
    citations: list[Citation]
    passages: list[Passage]
    backend: str
    timings: dict[str, float]
    query: str | None = None  # the standalone question retrieval used, when history rewrote it
    prompt_version: str | None = None  # the prompt template's version, for LLM answers
    notice: str | None = None  # something the reader must see, e.g. a fallback to extractive


class ArticleInfo(_Frozen):
    """One indexed article as the chat page lists it: file name, title, date, chunk count."""

    source: str
    title: str
    date: dt.date | None
    chunks: int
