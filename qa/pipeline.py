"""QAPipeline wires store, retriever and answerer into `ask()` and `ask_stream()`."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import unicodedata
from collections.abc import Iterator
from functools import cached_property

from qa.answerers import ExtractiveAnswerer
from qa.config import Settings
from qa.embeddings import Embedder, make_embedder
from qa.errors import ArticleError, QuestionError
from qa.ingest import IngestReport, Progress, ingest
from qa.models import Answer, ArticleInfo, Passage
from qa.retrieval import Filters, Mode, Retriever
from qa.store import Store


def clean_question(question: str, max_chars: int) -> str:
    """The question with control characters and extra spaces removed, or a QuestionError."""
    if not isinstance(question, str):
        raise QuestionError("the question must be text")
    text = "".join(" " if unicodedata.category(ch)[0] == "C" else ch for ch in question)
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        raise QuestionError("the question is empty: type a question about the articles")
    if len(text) > max_chars:
        raise QuestionError(
            f"the question is {len(text):,} characters long; keep it under {max_chars:,} "
            "(QA_MAX_QUESTION_CHARS)"
        )
    if not any(unicodedata.category(ch)[0] in "LN" for ch in text):
        raise QuestionError("the question has no words in it: ask about the articles in words")
    return text


class QAPipeline:
    """Everything needed to answer questions over one index."""

    def __init__(self, settings: Settings | None = None, embedder: Embedder | None = None) -> None:
        self.settings = settings or Settings()
        self.embedder = embedder or make_embedder(self.settings)
        self.store = Store(self.settings, self.embedder)
        self._ready = threading.Lock()
        self._checked = False  # the manifest is read once, not on every question

    @cached_property
    def retriever(self) -> Retriever:
        """The hybrid retriever over this pipeline's store."""
        return Retriever(self.store, self.embedder, self.settings)

    @cached_property
    def answerer(self) -> ExtractiveAnswerer:
        """The offline extractive answerer."""
        return ExtractiveAnswerer(self.embedder, self.store.keyword, self.settings)

    def ingest(
        self, folder: str | None = None, *, rebuild: bool = False, progress: Progress | None = None
    ) -> IngestReport:
        """Bring the index in line with a folder of articles (default: settings.articles_dir
        and the chat page's uploads in settings.uploads_dir)."""
        from pathlib import Path

        if folder:
            folders = [Path(folder)]
        else:
            self.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
            folders = [self.settings.articles_dir, self.settings.uploads_dir]
        report = ingest(self.store, folders, rebuild=rebuild, progress=progress)
        self.__dict__.pop("answerer", None)  # it holds the BM25 statistics of the old index
        return report

    def ensure_index(self) -> None:
        """Build the index from settings.articles_dir on first use; check it once otherwise."""
        if self._checked:
            return
        with self._ready:
            if not self.store.exists():
                self.ingest()
            self.store.check_compatible()
            self._checked = True

    def ask(
        self,
        question: str,
        *,
        history: list[tuple[str, str]] | None = None,
        k: int | None = None,
        sources: list[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        mode: Mode | None = None,
    ) -> Answer:
        """Answer one question from the articles, with citations; see `qa.ask`."""
        started = time.perf_counter()
        text = clean_question(question, self.settings.max_question_chars)
        self.ensure_index()
        timings: dict[str, float] = {}
        filters = Filters(frozenset(sources) if sources is not None else None, since, until)
        hits, vector = self.retriever.retrieve(
            text,
            k=k or self.settings.top_k,
            filters=filters,
            mode=mode or self.settings.retriever,
            timings=timings,
        )
        clock = time.perf_counter()
        draft = self.answerer.answer(text, hits, vector)
        timings["answer"] = round((time.perf_counter() - clock) * 1000, 3)
        timings["total"] = round((time.perf_counter() - started) * 1000, 3)
        passages = [
            Passage(
                rank=i,
                source=h.record.source,
                chunk_id=h.record.id,
                text=h.record.text,
                score=round(h.score, 6),
            )
            for i, h in enumerate(hits, start=1)
        ]
        return Answer(
            question=text,
            text=draft.text,
            refused=draft.refused,
            citations=draft.citations,
            passages=passages,
            backend=self.answerer.name,
            timings=timings,
        )

    def ask_stream(self, question: str, **options: object) -> Iterator[str | Answer]:
        """Yield the answer text in pieces (sentence by sentence), then the final Answer."""
        answer = self.ask(question, **options)  # type: ignore[arg-type]
        pieces = re.split(r"(?<=\]) ", answer.text)
        for i, piece in enumerate(pieces):
            yield piece if i == len(pieces) - 1 else piece + " "
        yield answer

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, newest first (undated last)."""
        self.ensure_index()
        known = self.store.manifest()["articles"]
        infos = [
            ArticleInfo(
                source=name,
                title=meta["title"],
                date=dt.date.fromisoformat(meta["date"]) if meta["date"] else None,
                chunks=len(meta["chunks"]),
            )
            for name, meta in known.items()
        ]
        return sorted(infos, key=lambda a: (a.date or dt.date.min, a.source), reverse=True)

    def article_text(self, source: str) -> str:
        """The cleaned text of one indexed article, the text citations point into."""
        from pathlib import Path

        from qa.articles import load_article

        meta = self.store.manifest()["articles"].get(source)
        if meta is None:
            raise ArticleError(f"{source} is not in the index: pick an article from the list")
        try:
            return load_article(Path(meta["origin"]) / source, self.settings.max_article_bytes).text
        except OSError:
            raise ArticleError(
                f"the file of {source} is gone: run `qa ingest` to bring the index up to date"
            ) from None
