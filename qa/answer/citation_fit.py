"""Scripted LLM answers over the hand-written Q&A pairs, the data the citation check is fitted on.

A scripted answer is what a model could write from the passages it was shown, in one of five
ways (MODES): the evidence quoted and cited with its passage (faithful), the item's hand-written
answer, which rewords the evidence, cited the same way (reworded), the evidence with one figure,
year or name changed (altered), the evidence cited with a passage that does not hold it
(wrong_number), and a sentence of another article cited with the evidence's passage
(unrelated); the wrong passages and the unrelated sentences come from other articles than the
evidence's. The first two must verify and the last three must not. tests/scripted_llm.py
serves these answers from an OpenAI-compatible endpoint.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from qa.answer.facts import facts
from qa.chunking import split_sentences
from qa.lexicon import lexicon

if TYPE_CHECKING:
    from qa.evaluation import EvalItem

Mode = Literal["faithful", "reworded", "altered", "wrong_number", "unrelated"]
MODES: tuple[Mode, ...] = ("faithful", "reworded", "altered", "wrong_number", "unrelated")
SHOULD_VERIFY: frozenset[Mode] = frozenset({"faithful", "reworded"})

_FIGURE = re.compile(r"(?<![\w.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?(?![\w])")
_STOP = re.compile(r"[\s.。!！?？;；]+$")


@dataclass(frozen=True)
class Shown:
    """A passage as the prompt showed it: its number, article file name and text."""

    n: int
    source: str
    text: str


def scripted_answer(item: EvalItem, shown: Sequence[Shown], mode: Mode) -> str | None:
    """The answer a model writing in `mode` gives to `item` from the `shown` passages, or None
    when the mode cannot be played (no evidence shown; nothing to change; no other passage)."""
    held = [(quote, p) for quote in item.evidence if (p := _holding(quote, shown)) is not None]
    if not held:
        return None
    quote, passage = held[0]
    if mode == "faithful":
        return " ".join(cited(q, p.n) for q, p in held)
    if mode == "reworded":
        if len(held) < len(item.evidence) or len({p.n for _, p in held}) > 1 or not item.answer:
            return None  # the answer states facts of a passage that was not shown, or of two
        return " ".join(cited(item.answer[s:e], passage.n) for s, e in split_sentences(item.answer))
    # passages of other articles only: another chunk of the evidence's article, or its title,
    # may state the same facts
    others = [p for p in shown if p.source != passage.source and quote not in p.text]
    if mode == "altered":
        changed = altered(quote, others, passage)
        return cited(changed, passage.n) if changed else None
    if mode == "wrong_number":
        return cited(quote, others[0].n) if others else None
    for other in others:
        for s, e in split_sentences(other.text):
            sentence = other.text[s:e]
            if len(sentence.split()) >= 8 and sentence not in passage.text:
                return cited(sentence, passage.n)
    return None


def cited(claim: str, n: int) -> str:
    """`claim` as one cited sentence: 'claim [n].'"""
    return f"{_STOP.sub('', claim)} [{n}]."


def altered(quote: str, others: Sequence[Shown], passage: Shown) -> str | None:
    """`quote` with one fact changed: a figure +3 (a year +1), a number word to the word 3
    above, else a name swapped for a name of another passage that `passage` does not hold."""
    before = facts(quote)
    for m in _FIGURE.finditer(quote):
        value = int(m.group(1).replace(",", ""))
        new = str(value + 1 if value in before.years else value + 3)
        text = quote[: m.start(1)] + new + quote[m.end(1) :]
        if facts(text) != before:
            return text
    words: dict[float, str] = {}
    for word, number in lexicon().number_words.items():
        if number == int(number) and 1 <= number <= 20:
            words.setdefault(number, word)  # "twelve", not "dozen"
    for m in re.finditer(r"[A-Za-z]+", quote):
        said = lexicon().number_words.get(m.group().lower())
        if said is not None and said in words and said + 3 in words:
            word = words[said + 3]
            word = word.capitalize() if m.group()[0].isupper() else word
            return quote[: m.start()] + word + quote[m.end() :]
    names = _names(others, passage)
    for name in sorted(before.names, key=len, reverse=True):
        at = quote.lower().find(name)
        if at >= 0 and names:
            return quote[:at] + names[0] + quote[at + len(name) :]
    return None


def _names(others: Sequence[Shown], passage: Shown) -> list[str]:
    """Names of several capitalised words, as written in `others`, that `passage` lacks."""
    skip = lexicon().not_names
    found = set()
    for other in others:
        for name in facts(other.text).names:
            at = other.text.lower().find(name)
            written = other.text[at : at + len(name)] if at >= 0 else ""
            words = written.split()
            if (
                len(words) >= 2
                and all(w[0].isupper() for w in words)
                and words[0].lower() not in skip
                and name not in passage.text.lower()
            ):
                found.add(written)
    return sorted(found)


def _holding(quote: str, shown: Sequence[Shown]) -> Shown | None:
    return next((p for p in shown if quote in p.text), None)
