"""Delta QA: cited answers about Zhejiang and Yangtze River Delta industry news articles.

    >>> from qa import ask
    >>> answer = ask("How many enterprises are in the Pinghu CNC machine tool cluster?")
    >>> print(answer.text)          # sentences from the articles, each followed by [n]
    >>> answer.citations[0].quote   # the verbatim sentence behind [1]

Importing `qa` loads no model, index, chromadb or gradio: the first `ask()` does that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from functools import lru_cache
from typing import TYPE_CHECKING

from qa.config import Settings
from qa.errors import (
    ArticleError,
    BackendError,
    ConfigError,
    IndexDamagedError,
    IndexEmptyError,
    IndexLockedError,
    IndexMismatchError,
    QAError,
    QuestionError,
)
from qa.models import Answer, Citation, Passage

if TYPE_CHECKING:
    from qa.pipeline import QAPipeline

__all__ = [
    "Answer",
    "ArticleError",
    "BackendError",
    "Citation",
    "ConfigError",
    "IndexDamagedError",
    "IndexEmptyError",
    "IndexLockedError",
    "IndexMismatchError",
    "Passage",
    "QAError",
    "QuestionError",
    "Settings",
    "ask",
    "ask_stream",
    "default_pipeline",
]


@lru_cache(maxsize=1)
def default_pipeline() -> QAPipeline:
    """The process-wide pipeline built from `Settings()` (environment and `.env`)."""
    from qa.pipeline import QAPipeline

    return QAPipeline(Settings())


def ask(
    question: str,
    *,
    history: list[tuple[str, str]] | None = None,
    k: int | None = None,
    sources: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Answer:
    """Answer `question` from the articles with `[n]` citations, or decline when they don't say.

    `sources` limits the search to those article file names, `since`/`until` to a publication
    date range; `k` is the number of passages to draw from. Raises QAError with a message
    saying what to do when the question or the set-up is wrong.
    """
    return default_pipeline().ask(
        question, history=history, k=k, sources=sources, since=since, until=until
    )


def ask_stream(
    question: str,
    *,
    history: list[tuple[str, str]] | None = None,
    k: int | None = None,
    sources: list[str] | None = None,
    since: dt.date | None = None,
    until: dt.date | None = None,
) -> Iterator[str | Answer]:
    """Like `ask`, but yields the answer text in pieces and then the final Answer."""
    return default_pipeline().ask_stream(
        question, history=history, k=k, sources=sources, since=since, until=until
    )
