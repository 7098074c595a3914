"""Analysis of a question, done once: its language, what it asks for, its subject, its
constraints (years, days, figures, names, qualifiers) and, when it asks two things, its parts.

Everything downstream (the features of candidate sentences, the policy, the LLM citation check)
reads this analysis instead of looking at the question's words again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from qa.answer.facts import Facts, facts, has_cjk, names_in, normalise
from qa.lexicon import KINDS, lexicon
from qa.tokens import terms

Asks = Literal["date", "number", "person", "place", "definition", "list", "yesno", "other"]
ConstraintKind = Literal["year", "day", "quantity", "name", "qualifier"]
HARD: frozenset[str] = frozenset({"year", "day"})  # a sentence that misses one never answers

_YEAR_PAIR = re.compile(
    r"((?:19|20)\d\d)\s*年?\s*(?:和|与|及|、|至|到)\s*((?:19|20)\d\d)\s*年?(?:度)?"
)
_ZH_JOIN = re.compile(r"^(?P<a>.+?)(?:以及|和|及|与)(?P<b>.+?)的(?P<x>[^的，,]{1,8})$")
_DIGITS = re.compile(r"\d[\d,.]*\s*(?:%|万亿|万|亿|千|百|[a-z]+)?", re.I)
_TITLED = re.compile(r"[《“\"]([^》”\"]{2,30})[》”\"]")  # a work's or a term's quoted name
_PRONOUN = re.compile(r"^(?:它|其|他|她|他们|它们)|\b(?:it|its|they|their|he|she|his|her)\b", re.I)


@dataclass(frozen=True)
class Constraint:
    """Something the answer must be about: '2022', '5月22日', 'seven', 'Wimbledon', 'first'."""

    kind: ConstraintKind
    text: str
    value: Any = None  # the year, the (month, day), the figure; None for names and qualifiers

    def met(self, held: Facts, text: str) -> bool:
        """Whether a sentence (with its context), given as its facts and text, states it."""
        if self.kind == "year":
            return self.value in held.years
        if self.kind == "day":
            month, day = self.value
            return (month, day) in held.days or (day == 0 and any(m == month for m, _ in held.days))
        if self.kind == "quantity":
            return self.value in held.quantities
        return names_in(self.text, text)

    def checkable(self, text: str) -> bool:
        """Whether the constraint can be looked for in `text` (a Chinese name cannot be found
        in an English sentence; figures and dates can be found in either)."""
        if self.kind in ("name", "qualifier"):
            return has_cjk(self.text) == has_cjk(text)
        return True

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for the trace."""
        return {"kind": self.kind, "text": self.text}


@dataclass(frozen=True)
class Question:
    """A question analysed once: see the module docstring."""

    text: str
    lang: Literal["en", "zh"]
    asks: Asks
    terms: tuple[str, ...]  # every content term, tokenised once
    subject: tuple[str, ...]  # the terms that name what it is about (no cue or constraint words)
    constraints: tuple[Constraint, ...]
    parts: tuple[Question, ...] = field(default=())  # set when it asks two things

    @property
    def hard(self) -> tuple[Constraint, ...]:
        """The constraints a sentence must meet to answer (years and days)."""
        return tuple(c for c in self.constraints if c.kind in HARD)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready view for the trace."""
        out: dict[str, Any] = {
            "text": self.text,
            "lang": self.lang,
            "asks": self.asks,
            "subject": list(self.subject),
            "constraints": [c.as_dict() for c in self.constraints],
        }
        if self.parts:
            out["parts"] = [p.as_dict() for p in self.parts]
        return out


def analyse(text: str) -> Question:
    """Analyse a question; a question that asks two things gets `parts`."""
    whole = _single(text)
    pieces = split_parts(text)
    if len(pieces) < 2:
        return whole
    parts = []
    for piece in pieces:
        part = _single(piece)
        if _PRONOUN.search(piece) or len(part.subject) < 2:
            # "它的导演是谁" / "and when was it built": the subject is in the other part
            extra = tuple(t for t in whole.subject if t not in part.subject)
            part = Question(
                part.text,
                part.lang,
                part.asks,
                part.terms + extra,
                part.subject + extra,
                part.constraints,
            )
        parts.append(part)
    return Question(
        whole.text,
        whole.lang,
        whole.asks,
        whole.terms,
        whole.subject,
        whole.constraints,
        tuple(parts),
    )


def _single(text: str) -> Question:
    lang: Literal["en", "zh"] = "zh" if has_cjk(text) else "en"
    cues = lexicon().asks[lang]
    asks: Asks = "other"
    cue_spans: list[tuple[int, int]] = []
    for kind in KINDS:
        match = cues[kind].search(text)
        if match:
            if asks == "other":
                asks = kind  # type: ignore[assignment]
            if kind in ("date", "number", "person", "place"):
                cue_spans.append(match.span())
    constraints = _constraints(text)
    all_terms = tuple(terms(text))
    cue_terms = {t for s, e in cue_spans for t in terms(text[s:e])}
    constraint_terms = {t for c in constraints if c.kind != "name" for t in terms(c.text)}
    subject = tuple(t for t in all_terms if t not in cue_terms and t not in constraint_terms)
    return Question(text, lang, asks, all_terms, subject or all_terms, constraints)


def _constraints(text: str) -> tuple[Constraint, ...]:
    held = facts(text)
    out: list[Constraint] = [Constraint("year", str(y), y) for y in sorted(held.years)]
    for month, day in sorted(held.days):
        label = f"{month}月{day}日" if day else f"{month}月"
        out.append(Constraint("day", label, (month, day)))
    # only figures written in digits: "两业" or "one of" in a question name no quantity
    written = facts(" ".join(_DIGITS.findall(text))).quantities - _ordinals(text)
    out += [Constraint("quantity", _figure(q), q) for q in sorted(written & held.quantities)]
    titled = {m.group(1).casefold() for m in _TITLED.finditer(text)}
    out += [Constraint("name", n) for n in sorted(titled | held.names | held.places)]
    lang = "zh" if has_cjk(text) else "en"
    for match in lexicon().qualifiers[lang].finditer(text):
        out.append(Constraint("qualifier", match.group().lower()))
    return tuple(dict.fromkeys(out))


def _ordinals(text: str) -> set[float]:
    """'第七届' names an edition; it is part of the subject's name, not a figure to check."""
    return {
        q
        for m in re.finditer(r"第([^届次期个]{1,4})[届次期]", text)
        for q in facts(m.group(1)).quantities
    }


def _figure(value: float) -> str:
    return f"{value:g}"


def split_parts(text: str) -> list[str]:
    """The questions one question asks: 'A? B?', 'what X, and when Y', '2022年和2023年的X',
    'A和B的X分别…'. A question that asks one thing is returned whole."""
    pieces = [p.strip() for p in re.split(r"(?<=[?？])\s*", text) if p.strip()]
    if len(pieces) >= 2:
        return pieces
    lang = "zh" if has_cjk(text) else "en"
    if lang == "en":
        pieces = [p.strip() for p in lexicon().parts["en"].split(text) if p and p.strip()]
        return pieces if len(pieces) >= 2 and all(len(terms(p)) >= 2 for p in pieces) else [text]
    pair = _YEAR_PAIR.search(text)
    if pair:
        return [
            text[: pair.start()] + f"{year}年" + text[pair.end() :].replace("分别", "")
            for year in pair.groups()
        ]
    stripped = lexicon().parts["zh"].sub("", text).rstrip("？?。 ")
    join = _ZH_JOIN.match(stripped)
    if join and normalise(join.group("x")) and _asks_kind(join.group("x")):
        return [f"{join.group('a')}的{join.group('x')}", f"{join.group('b')}的{join.group('x')}"]
    return [text]


def _asks_kind(tail: str) -> bool:
    cues = lexicon().asks["zh"]
    return any(cues[k].search(tail) for k in ("date", "number", "person", "place"))
