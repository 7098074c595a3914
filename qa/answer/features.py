"""Named features of a candidate answer sentence, against an analysed question.

A candidate is one sentence of a retrieved passage with its context: the article's title and
date and the sentence before it. Each feature is a number in [0, 1] with a name, so that the
policy (`qa.answer.policy`) can weigh them and the trace can show them. A candidate that misses
one of the question's hard constraints (a year or a day), or that states no figure (no date) of
its own for a "how many" ("when") question, is marked ineligible with the reason.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from qa.answer.facts import Facts, facts, figure_with_unit, flat
from qa.answer.question import Question
from qa.index.embeddings import unit_rows
from qa.lexicon import lexicon
from qa.text import has_cjk, terms


@dataclass(frozen=True)
class Feature:
    """One named feature: what it measures, the sign its fitted weight must keep (+1: more of
    it never lowers a sentence's score; -1: it never raises it; 0: free), the count it divides
    to stay in [0, 1] (value = min(1, count / scale)), and the feature it is the gap of (its
    value minus the best other eligible candidate's, see `relate`)."""

    name: str
    doc: str
    sign: int = 0
    scale: float | None = None
    gap_of: str | None = None


# The one statement of the reader's features: their order is the policy file's column order,
# and FEATURE_TABLE_VERSION, which a policy file records, changes whenever any of it does.
TABLE: tuple[Feature, ...] = (
    Feature(
        "support", "idf-weighted share of the question's terms in the sentence or its context", 1
    ),
    Feature("support_sentence", "the same share in the sentence alone", 1),
    Feature(
        "subject", "the sentence (or the one before) holds one of the question's rarest terms", 1
    ),
    Feature("similarity", "cosine of question and sentence embeddings", 1),
    Feature("similarity_context", "the same with the sentence before added to the sentence", 1),
    Feature("kind", "holds the kind of thing asked (a figure, a date, a name, a definition...)", 1),
    Feature("unit", "its figure comes with the unit asked for (1 if none is asked)", 1),
    Feature("constraints", "share of the question's names, figures and qualifiers it meets", 1),
    Feature("other_year", "states a year, but not the one asked", -1),
    Feature("novelty", "share of its terms the question does not hold (0 for an echo)", 1),
    Feature("is_question", "ends with a question mark", -1),
    Feature("standing", "its passage's fused retrieval score over the best passage's"),
    Feature("cross_language", "the sentence is in another language than the question"),
    # products: the asked kind counts only beside the subject and the question's words
    Feature("kind_x_subject", "kind × subject", 1),
    Feature("kind_x_support", "kind × support", 1),
    Feature("kind_x_similarity", "kind × similarity", 1),
    Feature("question_length", "the question's terms: long questions share less", scale=20),
    Feature("subject_sentence", "the sentence itself (not the one before) holds a rarest term"),
    Feature("support_before", "idf-weighted share of the question's terms in the sentence before"),
    Feature("heading", "short and without closing punctuation: a heading or a caption"),
    Feature("length", "the sentence's terms", scale=40),
    Feature("position", "where the sentence starts in its article, in characters", scale=2000),
    # against the other candidates of the same question (0 for the best of them)
    Feature("support_gap", "support minus the best other candidate's", 1, gap_of="support"),
    Feature("similarity_gap", "similarity minus the best other's", 1, gap_of="similarity"),
)
FEATURES = tuple(f.name for f in TABLE)
# Signs the fitted weights must keep: more evidence never lowers a sentence's score, and a
# sentence that states another year or asks a question never gains by it.
EVIDENCE = frozenset(f.name for f in TABLE if f.sign > 0)
AGAINST = frozenset(f.name for f in TABLE if f.sign < 0)
_SCALE = {f.name: f.scale for f in TABLE if f.scale is not None}
_RELATIVE = {f.name: f.gap_of for f in TABLE if f.gap_of is not None}
FEATURE_TABLE_VERSION = hashlib.sha256(
    json.dumps([(f.name, f.sign, f.scale, f.gap_of) for f in TABLE]).encode()
).hexdigest()[:8]
_COUNTED = frozenset({"year", "day", "quantity"})  # the constraints checked against facts
# what a sentence must state itself to answer "how many"/"when" (the question's own excepted)
_STATED = {"number": "figure", "date": "date or year"}
_NO_FACTS = Facts(frozenset(), frozenset(), frozenset(), ())
_RELATIVE = {"support_gap": "support", "similarity_gap": "similarity"}
_ASKED_MARK = re.compile(r"[?？]\s*[”\"'’)）]*\s*$")
_CLOSED = re.compile(r"[.!?。！？;；:：…]\s*[”\"'’)）]*\s*$")  # a sentence that ends as one
_HEADING_TERMS = 12


@dataclass(frozen=True)
class Context:
    """What surrounds a sentence: its article's title and date, and the sentence before."""

    title: str
    date: dt.date | None
    before: str
    offset: int = 0  # where the sentence starts in the article's cleaned text


@dataclass(frozen=True)
class Featured:
    """A candidate's feature values, and why it can never answer (None when it can)."""

    values: dict[str, float]
    ineligible: str | None


@lru_cache(maxsize=50_000)
def sentence_terms(text: str) -> frozenset[str]:
    """The terms of a sentence (cached: retrieved sentences recur)."""
    return frozenset(terms(text))


def featurise(
    question: Question,
    sentence: str,
    context: Context,
    similarity: tuple[float, float],
    standing: float,
    weights: Mapping[str, float],
    anchors: frozenset[str],
    terms_of: Callable[[str], frozenset[str]] = sentence_terms,
) -> Featured:
    """The features of one sentence as an answer to `question`.

    `similarity` is the question's cosine with the sentence and with the sentence and the one
    before it; `standing` its passage's fused score over the best passage's (a ratio, not a
    rank: two passages that nearly tie keep nearly the same value when other articles in the
    index reorder them or come between them); `weights` are the idf of the question's terms
    (see `weigh`); `anchors` are its rarest terms the index holds (see `anchor_terms`), one of
    which the sentence or the one before must name; `terms_of` gives a text's terms (stored at
    ingest for the sentences of an index).
    """
    own = terms_of(sentence)
    before = terms_of(context.before)
    around = own | terms_of(context.title) | before
    total = sum(weights.values()) or 1.0
    checkable = [c for c in question.constraints if c.checkable(sentence)]
    # names and qualifiers are looked for in the text: only years, days and figures need facts
    counted = any(c.kind in _COUNTED for c in checkable)
    held = facts_in_context(sentence, context) if counted else _NO_FACTS
    whole = flat_context(sentence, context)
    for c in question.hard:
        if not c.met(held, whole):
            return Featured({}, f"does not mention {c.text}")
    kind = holds_kind(question, sentence)
    if question.asks in _STATED and not kind:
        return Featured({}, f"states no {_STATED[question.asks]} of its own")
    soft = [c for c in checkable if c.kind not in ("year", "day")]
    met = sum(c.met(held, whole) for c in soft)
    asked_years = {c.value for c in question.hard if c.kind == "year"}
    own_years = facts(sentence).years if asked_years else frozenset()
    novel = own - set(question.terms)
    values = {
        "support": sum(w for t, w in weights.items() if t in around) / total,
        "support_sentence": sum(w for t, w in weights.items() if t in own) / total,
        "subject": float(not anchors or bool(anchors & (own | before))),
        "similarity": max(0.0, similarity[0]),
        "similarity_context": max(0.0, similarity[1]),
        "kind": float(kind),
        # a unit is looked for in the question's own language only ("家" is no English word)
        "unit": float(
            question.unit is None
            or has_cjk(sentence) != (question.lang == "zh")
            or figure_with_unit(sentence, question.unit)
        ),
        "constraints": met / len(soft) if soft else 1.0,
        "other_year": float(bool(own_years) and not own_years & asked_years)
        if asked_years
        else 0.0,
        "novelty": len(novel) / len(own) if own else 0.0,
        "is_question": float(bool(_ASKED_MARK.search(sentence))),
        "standing": standing,
        "cross_language": float(has_cjk(sentence) != (question.lang == "zh")),
    }
    values["kind_x_subject"] = values["kind"] * values["subject"]
    values["kind_x_support"] = values["kind"] * values["support"]
    values["kind_x_similarity"] = values["kind"] * values["similarity"]
    values["question_length"] = scaled("question_length", len(question.terms))
    values["subject_sentence"] = float(not anchors or bool(anchors & own))
    values["support_before"] = sum(w for t, w in weights.items() if t in before) / total
    values["heading"] = float(len(own) <= _HEADING_TERMS and not _CLOSED.search(sentence))
    values["length"] = scaled("length", len(own))
    values["position"] = scaled("position", context.offset)
    return Featured(values, None)


def scaled(name: str, count: float) -> float:
    """A count as the value of the feature `name`: over its table scale, at most 1."""
    return min(1.0, count / _SCALE[name])


def weigh(
    question: Question, index_idf: Callable[[str], float], most: int
) -> tuple[dict[str, float], frozenset[str]]:
    """The idf of each of the question's terms (looked up once, for all its candidates), and
    its `most` rarest subject terms that the articles hold (an idf under that of a term no
    article has): what it is about."""
    weights = {t: index_idf(t) for t in question.terms}
    unseen = index_idf("\x00unseen")

    def idf(term: str) -> float:
        return weights.get(term, 0.0)

    known = sorted({t for t in question.subject if idf(t) < unseen}, key=lambda t: (-idf(t), t))
    return weights, frozenset(known[:most])


def with_before(own: np.ndarray, before: np.ndarray) -> np.ndarray:
    """Unit vectors of each sentence joined with the one before it (rows of `before`)."""
    return unit_rows(own + before)


def relate(featured: list[Featured]) -> list[Featured]:
    """Add the features that compare each eligible candidate with the best of the others."""
    eligible = [f for f in featured if f.ineligible is None]
    best = {
        gap: max((f.values[base] for f in eligible), default=0.0) for gap, base in _RELATIVE.items()
    }
    out = []
    for f in featured:
        if f.ineligible is None:
            gaps = {gap: f.values[base] - best[gap] for gap, base in _RELATIVE.items()}
            f = Featured({**f.values, **gaps}, None)
        out.append(f)
    return out


def facts_in_context(sentence: str, context: Context, *, claim: bool = False) -> Facts:
    """The sentence's facts, plus the years, days and names its title and the sentence before
    state and its article's date (an article of March 2023 answers "in March 2023" with a
    sentence that says "this year"). An answer's figure must be its own sentence's; a `claim`
    (checking an LLM's citation) may take figures and the title's days from the context too,
    since a claim often joins the sentence it cites with the one before."""
    own, title, before = facts(sentence), facts(context.title), facts(context.before)
    years, days = own.years | title.years | before.years, own.days | before.days
    quantities = own.quantities
    if claim:
        days |= title.days
        quantities |= title.quantities | before.quantities
    if context.date is not None:
        years |= {context.date.year}
        days |= {(context.date.month, context.date.day)}
    return Facts(
        quantities=quantities,
        years=frozenset(years),
        days=days,
        texts=own.texts + title.texts + before.texts,
    )


def flat_context(sentence: str, context: Context) -> str:
    """The `flat` text of a sentence with its title and the sentence before: what a name is
    looked for in. Each part is flattened on its own (and cached), which gives the flat form
    of the three joined by spaces."""
    return flat(context.title) + flat(context.before) + flat(sentence)


def holds_kind(question: Question, sentence: str) -> bool:
    """Whether a sentence holds the kind of thing the question asks for."""
    asks = question.asks
    if asks in ("other", "yesno"):
        return True
    held, asked = facts(sentence), facts(question.text)
    # what the question itself states ("2022春运开始时间") is no answer to it
    if asks == "date":
        return bool(held.days - asked.days or held.years - asked.years)
    if asks == "number":
        return bool(held.quantities - asked.quantities)
    if asks in ("person", "place"):
        found = held.names | held.places if asks == "place" else held.names
        return bool(found - {n.casefold() for n in _question_names(question)})
    return bool(lexicon().states[asks].search(sentence))


def _question_names(question: Question) -> set[str]:
    return {c.text for c in question.constraints if c.kind == "name"}
