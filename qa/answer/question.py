"""Analysis of a question, done once: its language, what it asks for, its subject, its
constraints (years, days, figures, names, qualifiers) and, when it asks two things, its parts.

Everything downstream (the features of candidate sentences, the policy, the LLM citation check)
reads this analysis instead of looking at the question's words again.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from qa.answer.facts import Facts, facts, flat
from qa.lexicon import KINDS, lexicon
from qa.text import has_cjk, jieba, terms

Lang = Literal["en", "zh"]  # a question's language: Chinese when it holds a Han character


def language(text: str) -> Lang:
    """A text's question language: Chinese when it holds a Han character, else English."""
    return "zh" if has_cjk(text) else "en"
Asks = Literal["date", "number", "person", "place", "definition", "list", "yesno", "other"]
ConstraintKind = Literal["year", "day", "quantity", "name", "qualifier"]
HARD: frozenset[str] = frozenset({"year", "day"})  # a sentence that misses one never answers

_YEAR_PAIR = re.compile(
    r"((?:19|20)\d\d)\s*年?\s*(?:和|与|及|、|至|到)\s*((?:19|20)\d\d)\s*年?(?:度)?"
)
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
        """Whether a sentence (with its context), given as its facts and its `flat` text,
        states it."""
        if self.kind == "year":
            return self.value in held.years
        if self.kind == "day":
            month, day = self.value
            return (month, day) in held.days or (day == 0 and any(m == month for m, _ in held.days))
        if self.kind == "quantity":
            return self.value in held.quantities
        return flat(self.text) in text

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
    lang: Lang
    asks: Asks
    terms: tuple[str, ...]  # every content term, tokenised once
    subject: tuple[str, ...]  # the terms that name what it is about (no cue or constraint words)
    constraints: tuple[Constraint, ...]
    parts: tuple[Question, ...] = field(default=())  # set when it asks two things
    unit: str | None = None  # the unit a figure that answers comes with (a pattern), if known

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
        if self.unit:
            out["unit"] = self.unit
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
            part = replace(part, terms=part.terms + extra, subject=part.subject + extra)
        parts.append(part)
    return replace(whole, parts=tuple(parts))


def _single(text: str) -> Question:
    lang = language(text)
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
    unit = _unit(text, lang) if asks == "number" else None
    return Question(text, lang, asks, all_terms, subject or all_terms, constraints, (), unit)


def _unit(text: str, lang: str) -> str | None:
    """The unit an answering figure comes with: the counted noun of "how many X", the measure
    word of "多少X", or the unit a measured noun takes (人数 → 人, revenue → currency)."""
    for cue, unit in lexicon().units[lang]:
        match = cue.search(text)
        if match is None:
            continue
        named = match.groupdict().get("unit")
        if named is None:
            return unit
        if lang == "en":
            stems = terms(named)
            return rf"\b{re.escape(stems[0])}\w*" if stems else None
        return re.escape(named)
    return None


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
    lang = language(text)
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
    'X的A和B', 'A和B的X分别…', 'A多少，B多少'. A question that asks one thing is returned whole."""
    pieces = [p.strip() for p in re.split(r"(?<=[?？])\s*", text) if p.strip()]
    if len(pieces) >= 2:
        return pieces
    if not has_cjk(text):
        pieces = [p.strip() for p in lexicon().parts["en"].split(text) if p and p.strip()]
        return pieces if len(pieces) >= 2 and all(len(terms(p)) >= 2 for p in pieces) else [text]
    pair = _YEAR_PAIR.search(text)
    if pair:
        return [
            text[: pair.start()] + f"{year}年" + text[pair.end() :].replace("分别", "")
            for year in pair.groups()
        ]
    clauses = [c for c in re.split(r"[，,；;]", text) if c.strip()]
    if len(clauses) == 2 and all(_asks_kind(c) for c in clauses):
        return [c.strip() for c in clauses]  # "邓伦逃税多少钱，被罚了多少钱"
    return _conjuncts(text)


def _conjuncts(text: str) -> list[str]:
    """'卡塔尔世界杯德国队和法国队在哪个组' → one question per conjunct, the rest shared.

    Around the last 和/及/与, the right conjunct runs to a repeat of the word before the join
    ('女子双人10米跳台和男子双人10米跳台') or to the next 的, and the left one is as long; when
    the word after the join repeats an earlier one ('最佳电视剧和最佳电视动画') the left conjunct
    starts there. Split only when the question says 分别, or when it asks for a date, a figure,
    a name or a place about two short things."""
    words = jieba().lcut(text)
    joins = [i for i, w in enumerate(words) if w in _JOINS and 0 < i < len(words) - 1]
    if not joins:
        return [text]
    at = joins[-1]
    start, end = at - 1, _right_end(words, at)
    if words[at + 1] in words[:at]:
        start = max(i for i in range(at) if words[i] == words[at + 1])
    while end < len(words) and len("".join(words[at + 1 : end])) < len("".join(words[start:at])):
        end += 1
    while start > 0 and len("".join(words[start:at])) < len("".join(words[at + 1 : end])):
        start -= 1
    left, right = "".join(words[start:at]), "".join(words[at + 1 : end])
    prefix, suffix = "".join(words[:start]), "".join(words[end:]).replace("分别", "")
    short = max(len(left), len(right)) <= 5 and _asks_kind(text)
    if not ("分别" in text or short):
        return [text]
    return [prefix + left + suffix, prefix + right + suffix]


_JOINS = frozenset({"和", "及", "与", "以及"})


def _right_end(words: list[str], at: int) -> int:
    """Where the right conjunct after the join at `at` ends (exclusive)."""
    ahead = words[at + 1 : at + 7]
    if words[at - 1] in ahead:
        return at + 1 + ahead.index(words[at - 1]) + 1
    if "的" in ahead[:3]:
        return at + 1 + ahead.index("的")
    return at + 2


def _asks_kind(tail: str) -> bool:
    cues = lexicon().asks["zh"]
    return any(cues[k].search(tail) for k in ("date", "number", "person", "place"))
