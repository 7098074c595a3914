"""QAPipeline wires store, retriever and answerer into `ask()` and `ask_stream()`."""

from __future__ import annotations

import datetime as dt
import re
import threading
import time
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import replace
from functools import cached_property
from typing import TYPE_CHECKING, TypedDict, Unpack

import numpy as np

from qa.answer.citations import CitationChecker
from qa.answer.extractive import Draft, ExtractiveAnswerer
from qa.answer.followups import is_follow_up, standalone
from qa.answer.policy import load_policy
from qa.answer.question import Question, analyse
from qa.answer.retrieval import Filters, Hit, Mode, Retriever
from qa.config import Settings
from qa.corpus.chunking import chunker_config
from qa.corpus.embed import Progress
from qa.corpus.ingest import IngestReport, ingest
from qa.cross.scorer import shared as cross_scorer
from qa.errors import (
    ArticleError,
    BackendError,
    IndexDamagedError,
    IndexEmptyError,
    QuestionError,
)
from qa.index.embeddings import Embedder, make_embedder
from qa.index.store import Store
from qa.models import Answer, ArticleInfo, Passage

if TYPE_CHECKING:
    from qa.answer.llm import LLMAnswerer


class AskOptions(TypedDict, total=False):
    """The keyword options of `ask` and `ask_stream`."""

    history: list[tuple[str, str]] | None
    k: int | None
    sources: list[str] | None
    since: dt.date | None
    until: dt.date | None
    mode: Mode | None


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
        chunker = chunker_config(self.settings.chunk_size, self.settings.chunk_overlap)
        self.store = Store(self.settings, self.embedder, chunker)
        self._ready = threading.Lock()
        self._checked = False  # the manifest is read once, not on every question
        self._answerer: ExtractiveAnswerer | None = None  # both hold the index's statistics
        self._llm: LLMAnswerer | None = None
        self._generation = self.store.generation()  # of the index they were built on

    @cached_property
    def retriever(self) -> Retriever:
        """The hybrid retriever over this pipeline's store."""
        scorer = cross_scorer() if self.settings.rerank_pool else None
        return Retriever(self.store, self.embedder, self.settings, scorer)

    @property
    def answerer(self) -> ExtractiveAnswerer:
        """The offline extractive answerer."""
        if self._answerer is None:
            policy = load_policy(self.settings.policy_file)
            self._answerer = ExtractiveAnswerer(
                self.store.keyword, self.settings, policy, cross_scorer()
            )
        return self._answerer

    def ingest(
        self,
        folder: str | Sequence[str] | None = None,
        *,
        rebuild: bool = False,
        progress: Progress | None = None,
        only: bool = False,
    ) -> IngestReport:
        """Bring the index in line with a folder of articles, or several (default:
        settings.articles_dir, the chat page's uploads in settings.uploads_dir and the saved
        web pages in settings.web_dir). Articles from other folders stay indexed beside them
        unless `only` is set, which removes them from the index (never from disk)."""
        from pathlib import Path

        if isinstance(folder, str):
            folders = [Path(folder)]
        elif folder:
            folders = [Path(f) for f in folder]
        else:
            if self.settings.articles_in_home:
                self.settings.articles_dir.mkdir(parents=True, exist_ok=True)
            self.settings.uploads_dir.mkdir(parents=True, exist_ok=True)
            self.settings.web_dir.mkdir(parents=True, exist_ok=True)
            folders = [self.settings.articles_dir, self.settings.uploads_dir, self.settings.web_dir]
        report = ingest(self.store, folders, rebuild=rebuild, progress=progress, only=only)
        self._loaded(self.store.generation())
        return report

    def ingest_pages(
        self,
        urls: Sequence[str],
        *,
        allow_private: bool,
        folders: Sequence[str] | None = None,
        rebuild: bool = False,
        progress: Progress | None = None,
    ) -> IngestReport:
        """Fetch web pages into settings.web_dir, then ingest them with `folders` (default: as
        `ingest`). A page that cannot be fetched is in the report's `skipped`, by its address;
        `allow_private`: whether loopback and private addresses may be fetched."""
        from qa.corpus.web import fetch_pages

        settings = self.settings
        _, failed = fetch_pages(
            list(urls),
            settings.web_dir,
            timeout=settings.web_timeout,
            max_bytes=settings.max_page_bytes,
            allow_private=allow_private,
            trust_env=settings.web_trust_env,
        )
        chosen = [*folders, str(settings.web_dir)] if folders else None
        report = self.ingest(chosen, rebuild=rebuild, progress=progress)
        report.skipped = failed + report.skipped
        return report

    def refresh(self) -> None:
        """Pick up an ingest that another process finished since this pipeline last read the
        index (a long-running chat page); a write still in progress is not read."""
        generation = self.store.generation()
        if generation != self._generation and not self.store.unfinished():
            with self._ready:
                self.store.reload(reopen=True)
                self._loaded(generation)

    def _loaded(self, generation: tuple[int, int, int] | None) -> None:
        """Forget what was built on the previous index."""
        self._answerer = self._llm = None
        self._generation = generation

    def ensure_index(self) -> None:
        """Build the index from settings.articles_dir on first use; check it once otherwise."""
        if self._checked:
            return
        with self._ready:
            if not self.store.exists():
                self.ingest()
            if self.store.unfinished():
                raise IndexDamagedError(
                    "the last `qa ingest` did not finish, so the index may be half written: "
                    "run `qa ingest` to repair it (or wait for the one that is running)"
                )
            self.store.check_compatible()
            self.store.check_counts()
            self._checked = True

    @property
    def llm(self) -> LLMAnswerer:
        """The LLM answerer over the configured endpoint (ConfigError when there is none)."""
        from qa.answer.llm import LLMAnswerer

        if self._llm is None:
            checker = CitationChecker(
                self.embedder, self.store.keyword, self.answerer.policy, self.settings.anchor_terms
            )
            self._llm = LLMAnswerer(self.settings, checker)
        return self._llm

    def with_settings(self, **changes: object) -> QAPipeline:
        """A pipeline over the same embedder with some settings changed (e.g. backend="llm")."""
        settings = Settings(**{**self.settings.model_dump(), **changes})  # validated again
        return QAPipeline(settings, embedder=self.embedder)

    @property
    def backend(self) -> str:
        """Which answerer questions go to: 'llm' or 'extractive' (see Settings.backend)."""
        return "llm" if self.settings.use_llm else "extractive"

    def ask(self, question: str, **options: Unpack[AskOptions]) -> Answer:
        """Answer one question from the articles, with citations; see `qa.ask`."""
        for item in self.ask_stream(question, **options):
            if isinstance(item, Answer):
                return item
        raise AssertionError("ask_stream ends with an Answer")  # pragma: no cover

    def ask_stream(
        self,
        question: str,
        *,
        history: list[tuple[str, str]] | None = None,
        k: int | None = None,
        sources: list[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
        mode: Mode | None = None,
    ) -> Iterator[str | Answer]:
        """Yield the answer text in pieces as it is written, then the final Answer.

        The LLM's deltas carry its raw `[n]` markers; the final Answer's text, with markers
        renumbered to the verified citations, is the one to keep.
        """
        started = time.perf_counter()
        text = self._open(question)
        timings: dict[str, float] = {}
        query = self._standalone(text, history, timings)
        clock = time.perf_counter()
        analysis = analyse(query)  # once: its terms serve BM25, features and the policy
        timings["analyse"] = _ms(clock)
        hits, vector, per_part = self.retrieve(
            analysis,
            k=k or self.settings.top_k,
            filters=Filters(frozenset(sources) if sources is not None else None, since, until),
            mode=mode or self.settings.retriever,
            timings=timings,
        )
        clock = time.perf_counter()
        draft, backend, streamed = None, self.backend, False
        if backend == "llm":
            try:
                for piece in self.llm.stream(query, hits):
                    if isinstance(piece, Draft):
                        draft = piece
                    else:
                        timings.setdefault("first_token", _ms(started))
                        streamed = True
                        yield piece
            except BackendError as exc:
                if self.settings.llm_on_error == "raise":
                    raise
                backend = "extractive"
                draft = self._extractive(
                    analysis, hits, vector, per_part, f"{exc}. Showing the extractive answer."
                )
            # only an answer none of whose citations checks out is replaced (see the setting)
            unchecked = (
                backend == "llm"
                and draft is not None
                and not draft.refused
                and not any(c.verified for c in draft.citations)
            )
            if unchecked and self.settings.llm_on_unverified == "extractive":
                backend = "extractive"
                draft = self._extractive(
                    analysis,
                    hits,
                    vector,
                    per_part,
                    "The LLM's answer could not be checked against the "
                    "articles, so the extractive answer is shown.",
                )
        draft = draft or self.answerer.answer(analysis, hits, vector, per_part)
        timings["answer"] = _ms(clock)
        timings["total"] = _ms(started)
        answer = Answer(
            question=text,
            text=draft.text,
            refused=draft.refused,
            citations=draft.citations,
            passages=_passages(hits),
            backend=backend,
            timings=timings,
            query=query if query != text else None,
            prompt_version=self.llm.prompt.version if backend == "llm" else None,
            notice=draft.notice,
            trace=draft.trace,
        )
        if not streamed:
            pieces = re.split(r"(?<=\]) ", answer.text)
            for i, piece in enumerate(pieces):
                yield piece if i == len(pieces) - 1 else piece + " "
        yield answer

    def search(
        self,
        query: str,
        *,
        k: int | None = None,
        sources: list[str] | None = None,
        since: dt.date | None = None,
        until: dt.date | None = None,
    ) -> list[Passage]:
        """The passages that best match `query`, best first, without answering it (what an
        agent reads for itself); the same checks of the query and the index as `ask`."""
        hits, _, _ = self.retrieve(
            analyse(self._open(query)),
            k=k or self.settings.top_k,
            filters=Filters(frozenset(sources) if sources is not None else None, since, until),
            mode=self.settings.retriever,
        )
        return _passages(hits)

    def _open(self, question: str) -> str:
        """The cleaned question, once the index is checked, current and holds articles."""
        text = clean_question(question, self.settings.max_question_chars)
        self.ensure_index()
        self.refresh()
        if not self.store.keyword.records:
            raise IndexEmptyError(
                f"no articles are indexed yet in {self.settings.index_dir}: run `qa ingest "
                f"FOLDER` on a folder of articles, or put them in {self.settings.articles_dir}"
            )
        return text

    def _standalone(
        self, question: str, history: list[tuple[str, str]] | None, timings: dict[str, float]
    ) -> str:
        """The question rewritten to stand alone when it follows up on the history."""
        if not history:
            return question
        clock = time.perf_counter()
        if self.backend == "llm" and is_follow_up(question):
            query = self.llm.rewrite(question, history)
        else:
            query = standalone(question, history)
        timings["rewrite"] = _ms(clock)
        return query

    def retrieve(
        self,
        question: Question,
        *,
        k: int,
        filters: Filters | None = None,
        mode: Mode = "hybrid",
        timings: dict[str, float] | None = None,
    ) -> tuple[list[Hit], np.ndarray, list[tuple[list[Hit], np.ndarray]] | None]:
        """The passages for an analysed question, its vector, and each part's own passages
        and vector.

        A question that asks two things retrieves for each part (k passages each, taken in
        turn), since the two answers are usually in different articles."""
        found = [
            self.retriever.retrieve(
                part.text,
                k=k,
                filters=filters or Filters(),
                mode=mode,
                timings=timings,
                query_terms=part.terms,
            )
            for part in question.parts or (question,)
        ]
        if not question.parts:
            return found[0][0], found[0][1], None
        merged: dict[str, Hit] = {}
        for rank in range(k):
            for hits, _ in found:
                if rank < len(hits):
                    merged.setdefault(hits[rank].record.id, hits[rank])
        return list(merged.values()), found[0][1], found

    def _extractive(
        self,
        question: Question,
        hits: list[Hit],
        vector: np.ndarray,
        per_part: list[tuple[list[Hit], np.ndarray]] | None,
        notice: str,
    ) -> Draft:
        return replace(self.answerer.answer(question, hits, vector, per_part), notice=notice)

    def articles(self) -> list[ArticleInfo]:
        """Every indexed article, newest first (undated last)."""
        self.ensure_index()
        known = self.store.manifest().articles
        infos = [
            ArticleInfo(source=name, title=entry.title, date=entry.day, chunks=len(entry.chunks))
            for name, entry in known.items()
        ]
        return sorted(infos, key=lambda a: (a.date or dt.date.min, a.source), reverse=True)

    def article_text(self, source: str) -> str:
        """The cleaned text of one indexed article, the text citations point into."""
        from pathlib import Path

        from qa.corpus.articles import load_article
        from qa.corpus.web import is_address, page_file

        entry = self.store.manifest().articles.get(source)
        if entry is None:
            raise ArticleError(f"{source} is not in the index: pick an article from the list")
        name = page_file(source) if is_address(source) else source  # a web page's saved copy
        try:
            return load_article(Path(entry.origin) / name, self.settings.max_article_bytes).text
        except OSError:
            raise ArticleError(
                f"the file of {source} is gone: run `qa ingest` to bring the index up to date"
            ) from None


def _passages(hits: list[Hit]) -> list[Passage]:
    """Retrieved hits as the public Passages, ranked from 1."""
    return [
        Passage(
            rank=i,
            source=h.record.source,
            chunk_id=h.record.id,
            text=h.record.text,
            score=round(h.score, 6),
            page=h.record.page_at(h.record.start),
        )
        for i, h in enumerate(hits, start=1)
    ]


def _ms(since: float) -> float:
    return round((time.perf_counter() - since) * 1000, 3)
