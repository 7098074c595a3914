"""Answerers: the offline extractive one picks the best-supported sentences and cites each."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import numpy as np

from qa.answer.citations import cite
from qa.answer.retrieval import Hit
from qa.config import Settings
from qa.embeddings import Embedder
from qa.keyword import KeywordIndex
from qa.models import Citation
from qa.tokens import terms

Kind = Literal["number", "date", "person", "any"]

_ASKS = {
    "number": re.compile(
        r"\bhow (?:many|much|large|big|long|far|fast)\b|\bby how\b|\bwhat (?:percentage|proportion|"
        r"share|number|amount|size|area|scale|rate)\b|\b(?:output value|total investment|"
        r"throughput|capacity|population|revenue|gdp|growth rate)\b"
        r"|多少|几[家个项座条所年倍]|百分|比例|面积|产值|金额|规模|投资额|产能",
        re.IGNORECASE,
    ),
    "date": re.compile(
        r"\bwhen\b|\bwhat (?:year|date|month|day)\b|\b(?:which|in what) (?:year|date|month)\b"
        r"|\bsince when\b|\bhow long ago\b|何时|什么时候|哪一年|哪年|几月|哪天|日期|何年",
        re.IGNORECASE,
    ),
    "person": re.compile(r"^\s*who\b|\bwho (?:is|was|heads|leads|led|said)\b|谁", re.IGNORECASE),
}
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|forty|fifty|"
    r"hundred|thousand|million|billion|dozens?|percent"
)
_ORG_WORDS = frozenset(
    [
        "zone",
        "park",
        "city",
        "province",
        "river",
        "delta",
        "group",
        "industrial",
        "industry",
        "intelligent",
        "manufacturing",
        "economic",
        "development",
        "new",
        "area",
        "science",
        "technology",
        "high",
        "tech",
        "county",
        "district",
        "bureau",
        "committee",
        "port",
        "smart",
        "precision",
        "machinery",
        "co",
        "ltd",
        "national",
        "provincial",
        "municipal",
    ]
)
_HOLDS = {
    # a quantity: a number that is not a bare year, or a number word
    "number": re.compile(
        rf"(?<![\d.])(?!(?:19|20)\d\d(?!\d|%|\.\d))\d[\d,.]*|\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE
    ),
    "date": re.compile(
        r"\b(?:19|20)\d\d\b|\b(?:January|February|March|April|May|June|July|August|September|"
        r"October|November|December)\b|\b(?:this|last|next) year\b|\bsince the beginning\b",
        re.IGNORECASE,
    ),
}
_PROPER = re.compile(r"(?<=[\w,;:(\"“] )[A-Z][A-Za-z-]+")  # capitalised, not sentence-initial
_NAME = re.compile(r"\b([A-Z][a-z]+) ([A-Z][a-z]+)\b")
# What a "how many / how much" question counts or measures; the answer sentence must name it.
_MEASURES = frozenset(
    [
        "invest",
        "output",
        "valu",
        "area",
        "throughput",
        "capac",
        "revenu",
        "sale",
        "employe",
        "worker",
        "staff",
        "export",
        "import",
        "popul",
        "gdp",
        "tax",
        "growth",
    ]
)
_COUNTED = re.compile(r"\bhow (?:many|much)\s+(?:of\s+the\s+)?([a-z-]+)", re.IGNORECASE)


def holds_kind(kind: Kind, text: str) -> bool:
    """Whether a sentence holds the kind of thing asked for (a quantity, a date, a name)."""
    if kind == "any":
        return True
    if kind == "person":
        return any(
            a.lower() not in _ORG_WORDS and b.lower() not in _ORG_WORDS
            for a, b in _NAME.findall(text)
        )
    return bool(_HOLDS[kind].search(text))


def measured(question: str) -> set[str]:
    """The stems of what a number question counts or measures ('enterprises', 'investment')."""
    counted = _COUNTED.search(question)
    if counted and terms(counted.group(1)):
        return set(terms(counted.group(1)))
    return {t for t in terms(question) if t in _MEASURES}


def asked_kind(question: str) -> Kind:
    """The kind of thing a question asks for: a number, a date, a person, or anything."""
    kinds: tuple[Kind, ...] = ("date", "number", "person")
    for kind in kinds:
        if _ASKS[kind].search(question):
            return kind
    return "any"


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with how well it supports the question."""

    hit: Hit
    start: int  # offsets into the article text
    end: int
    text: str
    support: float  # idf-weighted share of the question's terms the sentence holds
    similarity: float  # cosine of question and sentence embeddings
    kind_ok: bool
    anchored: bool  # holds one of the question's rarest terms (its subject)
    open_question: bool  # asks for no number, date or person ("what", "why", "which")

    @property
    def score(self) -> float:
        """How good an answer sentence this is."""
        return 0.6 * self.support + 0.4 * self.similarity + (0.05 if self.kind_ok else 0.0)


@dataclass(frozen=True)
class Draft:
    """What an answerer produced, before the pipeline adds passages and timings."""

    text: str
    refused: bool
    citations: list[Citation]
    notice: str | None = None  # shown to the reader with the answer


class ExtractiveAnswerer:
    """Answers with verbatim sentences of the passages; declines when none really answers."""

    name = "extractive"

    def __init__(self, embedder: Embedder, keyword: KeywordIndex, settings: Settings) -> None:
        self.embedder = embedder
        self.keyword = keyword
        self.settings = settings
        self._titles: dict[str, set[str]] = {}

    def candidates(
        self, question: str, hits: list[Hit], query_vector: np.ndarray
    ) -> list[Candidate]:
        """Every sentence of the hits, scored against the question, best first."""
        q_terms = set(terms(question))
        weights = {t: self.keyword.idf(t) for t in q_terms}
        total = sum(weights.values()) or 1.0
        kind = asked_kind(question)
        focus = measured(question) if kind == "number" else set()
        # the rarest question terms the articles hold name what the question is about
        unseen = self._unseen_idf()
        proper = set(terms(" ".join(_PROPER.findall(question))))
        pool = [t for t in q_terms if weights[t] < unseen]
        pool = [t for t in pool if t in proper] or pool
        known = sorted(pool, key=lambda t: (-weights[t], t))
        anchors = set(known[: self.settings.anchor_terms])
        title_terms = self._title_terms
        spans: list[tuple[Hit, int, int]] = []
        seen: set[tuple[str, int]] = set()
        before: dict[tuple[str, int], int] = {}  # sentence -> start of the sentence before it
        # sentence spans and vectors were computed at ingest; `kept` picks each sentence once
        stored = self.keyword.sentence_vectors(self.keyword.rows([h.record.id for h in hits]))
        kept: list[int] = []
        row = 0
        for hit in hits:
            previous = 0
            for s, e in hit.record.sentences:
                key = (hit.record.source, hit.record.start + s)
                if key not in seen:
                    seen.add(key)
                    spans.append((hit, s, e))
                    kept.append(row)
                    before[key] = previous
                previous = s
                row += 1
        sims = stored[kept] @ query_vector if len(spans) else np.zeros(0)
        out = []
        for (hit, s, e), sim in zip(spans, sims, strict=True):
            text = hit.record.text[s:e]
            held_all = set(terms(text))
            context = title_terms(hit)
            held = q_terms.intersection(held_all | context)
            # "the cluster" in one sentence often names its subject in the sentence before
            prior = hit.record.text[before[(hit.record.source, hit.record.start + s)] : s]
            anchored = q_terms.intersection(held | set(terms(prior)))
            out.append(
                Candidate(
                    hit=hit,
                    start=hit.record.start + s,
                    end=hit.record.start + e,
                    text=text,
                    support=sum(weights[t] for t in held) / total,
                    anchored=not anchors or bool(anchors & anchored),
                    similarity=float(sim),
                    open_question=kind == "any",
                    kind_ok=holds_kind(kind, text)
                    and (kind != "number" or not focus or bool(focus.intersection(held_all))),
                )
            )
        return sorted(out, key=lambda c: -c.score)

    def _title_terms(self, hit: Hit) -> set[str]:
        """The article title's terms count as context of every sentence of the article."""
        key = hit.record.source
        if key not in self._titles:
            self._titles[key] = set(terms(hit.record.title))
        return self._titles[key]

    def shares_terms(self, question: str) -> bool:
        """Whether any term of the question occurs in the articles (False for most Chinese)."""
        unseen = self._unseen_idf()
        return any(self.keyword.idf(t) < unseen for t in terms(question))

    def accepts(self, candidate: Candidate, lexical: bool) -> bool:
        """Whether a sentence answers the question: it holds the subject and the kind asked.

        `lexical` is `shares_terms(question)`: without shared words, embedding similarity
        stands in for term support.
        """
        if not (candidate.kind_ok and candidate.anchored):
            return False
        if lexical:
            s = self.settings
            # a reworded open question shares few words with its answer; a number, date or
            # person question is held to full support, as a figure beside other words is
            # usually a different figure
            return candidate.support >= s.min_support or (
                candidate.open_question
                and candidate.support >= s.paraphrase_support
                and candidate.similarity >= s.paraphrase_similarity
            )
        return candidate.similarity >= self.settings.min_similarity

    def _unseen_idf(self) -> float:
        return self.keyword.idf("\x00unseen")

    def answer(self, question: str, hits: list[Hit], query_vector: np.ndarray) -> Draft:
        """The best-supported sentences, each with [n], or a refusal naming the closest articles."""
        parts_asked = question_parts(question)
        picked: list[Candidate] = []
        for part in parts_asked:
            vector = query_vector if len(parts_asked) == 1 else self.embedder.embed_query(part)
            ranked = self.candidates(part, hits, vector)
            lexical = self.shares_terms(part)
            chosen = [c for c in ranked if self.accepts(c, lexical)]
            if chosen:
                best = chosen[0].score
                limit = self.settings.answer_sentences if len(parts_asked) == 1 else 1
                taken = {(p.hit.record.source, p.start) for p in picked}
                new = [
                    c
                    for c in chosen
                    if c.score >= 0.85 * best and (c.hit.record.source, c.start) not in taken
                ]
                picked.extend(new[:limit])
        if not picked:
            return Draft(text=refusal(hits), refused=True, citations=[])
        parts, citations = [], []
        for n, c in enumerate(picked, start=1):
            parts.append(f"{c.text} [{n}]")
            offset = c.hit.record.start
            citations.append(cite(n, c.hit.record, c.start - offset, c.end - offset, True))
        return Draft(text=" ".join(parts), refused=False, citations=citations)


_SECOND_QUESTION = re.compile(
    r"(?<=[?？])\s*|[,;，；]?\s+and\s+(?=(?:what|which|when|where|who|how|in what|in which)\b)"
    r"|[，；]\s*(?:以及|还有)?(?=[^，；]*(?:什么|哪|多少|几|何时|谁))",
    re.IGNORECASE,
)


def question_parts(question: str) -> list[str]:
    """A multi-part question split into its questions ('A? B?', 'what X, and when Y')."""
    parts = [p.strip() for p in _SECOND_QUESTION.split(question) if p and p.strip()]
    return [p for p in parts if len(terms(p)) >= 2] or [question]


def refusal(hits: list[Hit]) -> str:
    """One sentence saying the articles do not answer, naming the closest ones."""
    names: list[str] = []
    for hit in hits:
        label = f"“{hit.record.title}” ({hit.record.source})"
        if label not in names:
            names.append(label)
    if not names:
        return "The indexed articles do not answer this question, and none of them is close to it."
    return (
        "The indexed articles do not answer this question; the closest are "
        + "; ".join(names[:3])
        + "."
    )

