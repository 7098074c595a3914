"""The typed, frozen, JSON-serialisable results: Answer, Citation and Passage."""

from __future__ import annotations

import datetime as dt
from typing import Any

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
    page: int | None = None  # the page of a PDF the passage starts on


class Citation(_Frozen):
    """The evidence for one `[n]` in an answer: a verbatim sentence and where it is (the
    article, offsets into its cleaned text and, in a PDF, the page)."""

    n: int
    source: str
    title: str
    date: dt.date | None
    quote: str
    start: int
    end: int
    verified: bool
    page: int | None = None  # the page of a PDF that holds the quote (where it starts)


class Considered(_Frozen):
    """A sentence the answer policy weighed: its feature values, the reader's probability that
    it answers (`score`) and the verdict."""

    source: str
    quote: str
    score: float
    features: dict[str, float]
    reason: str | None = None  # why it was turned down, when it was


class Trace(_Frozen):
    """Why an answer was given or declined: the question's analysis, the policy's cut-off,
    what was chosen and the best sentence turned down."""

    analysis: dict[str, Any]
    policy: str
    threshold: float
    decision: str
    chosen: list[Considered] = []
    best_rejected: Considered | None = None

    def lines(self) -> list[str]:
        """The trace as plain-text lines, for the terminal and the chat page."""
        analysis = self.analysis
        asked = f"asks for: {analysis.get('asks')} ({analysis.get('lang')})"
        if analysis.get("constraints"):
            asked += "; must match: " + ", ".join(c["text"] for c in analysis["constraints"])
        if analysis.get("parts"):
            asked += "; parts: " + " | ".join(p["text"] for p in analysis["parts"])
        point = f"policy {self.policy}, operating point {self.threshold:g}"
        out = [asked, f"decision: {self.decision} ({point})"]
        for c in self.chosen:
            out.append(f"chosen, probability {c.score:.3f}: “{c.quote}” ({c.source}) {_top(c)}")
        if self.best_rejected is not None:
            r = self.best_rejected
            why = f" — {r.reason}" if r.reason else ""
            out.append(
                f"best turned down, probability {r.score:.3f}{why}: “{r.quote}” ({r.source}) "
                f"{_top(r)}"
            )
        return out


def _top(considered: Considered) -> str:
    """The features of a considered sentence, largest first."""
    ranked = sorted(considered.features.items(), key=lambda kv: -abs(kv[1]))
    return "[" + ", ".join(f"{k} {v:.2f}" for k, v in ranked) + "]" if ranked else ""


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
    trace: Trace | None = None  # why it answered or declined (extractive answers)


class ArticleInfo(_Frozen):
    """One indexed article as the chat page lists it: file name, title, date, chunk count."""

    source: str
    title: str
    date: dt.date | None
    chunks: int
