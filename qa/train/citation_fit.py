"""Scripted LLM answers over the hand-written Q&A pairs, the data the citation check is fitted on.

A scripted answer is what a model could write from the passages it was shown, in one of five
ways (MODES): the evidence quoted and cited with its passage (faithful), the item's hand-written
answer, which rewords the evidence, cited the same way (reworded), the evidence with one figure,
year or name changed (altered), the evidence cited with a passage that does not hold it
(wrong_number), and a sentence of another article cited with the evidence's passage
(unrelated); the wrong passages and the unrelated sentences come from other articles than the
evidence's. The first two must verify and the last three must not.

`fit_citation_threshold` checks every mode's answers on the dev split and picks the policy's
`citation_threshold`: the cut-off on the claim–sentence score that gets the most modes right.
`python -m qa.train` calls it; `python -m qa.train.citation_fit` prints what it would pick
for the shipped policy. tests/scripted_llm.py serves the same answers from an OpenAI-compatible
endpoint, so what the tests measure is what the threshold was fitted on.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from qa.answer.citations import CitationChecker, Claim
from qa.answer.facts import facts
from qa.answer.policy import Policy
from qa.answer.question import analyse
from qa.errors import ConfigError
from qa.lexicon import lexicon
from qa.text import split_sentences

if TYPE_CHECKING:
    from qa.eval.evaluation import EvalItem
    from qa.pipeline import QAPipeline

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


@dataclass(frozen=True)
class Scripted:
    """One scripted answer to one item, and its claims as the checker saw them."""

    item: str
    mode: Mode
    claims: list[Claim]

    def verified(self, threshold: float) -> bool:
        """Whether every claim verifies when the score must reach `threshold`."""
        ok = {c.index for c in self.claims if c.missing is None and c.score >= threshold}
        return bool(self.claims) and ok == {c.index for c in self.claims}


def scripted(pipeline: QAPipeline, items: Sequence[EvalItem], policy: Policy) -> list[Scripted]:
    """Every mode's answer to every answerable item, from the passages `ask` would retrieve."""
    pipeline.ensure_index()
    checker = CitationChecker(
        pipeline.embedder, pipeline.store.keyword, policy, pipeline.settings.anchor_terms
    )
    out = []
    for item in items:
        if not (item.should_answer and item.evidence):
            continue
        hits, _, _ = pipeline.retrieve(
            analyse(item.question), k=pipeline.settings.top_k, mode=pipeline.settings.retriever
        )
        shown = [Shown(n, h.record.source, h.record.text) for n, h in enumerate(hits, start=1)]
        for mode in MODES:
            reply = scripted_answer(item, shown, mode)
            if reply is not None:
                out.append(Scripted(item.id, mode, checker.check(reply, hits).claims))
    return out


def verified_rates(answers: Sequence[Scripted], threshold: float) -> dict[Mode, float]:
    """Per mode, the share of its answers whose claims all verify at `threshold`."""
    rates: dict[Mode, float] = {}
    for mode in MODES:
        mine = [a.verified(threshold) for a in answers if a.mode == mode]
        if mine:
            rates[mode] = sum(mine) / len(mine)
    return rates


def right(rates: dict[Mode, float]) -> float:
    """The mean over modes of the share checked right (verified, or not, as the mode should)."""
    return float(np.mean([r if m in SHOULD_VERIFY else 1 - r for m, r in rates.items()]))


def best_threshold(answers: Sequence[Scripted]) -> tuple[float, float, float, float]:
    """The threshold that gets the most answers `right`, the middle one of a tie, with how
    right it gets them and the lowest and highest threshold that do as well."""
    grid = [round(float(t), 3) for t in np.linspace(0.005, 0.995, 199)]
    scores = [right(verified_rates(answers, t)) for t in grid]
    best = [t for t, score in zip(grid, scores, strict=True) if score == max(scores)]
    return best[len(best) // 2], max(scores), best[0], best[-1]


def fit_citation_threshold(
    pipeline: QAPipeline, items: Sequence[EvalItem], policy: Policy | None = None
) -> float:
    """The citation threshold for `policy` (default: the pipeline's) that gets the most of the
    scripted answers to `items` (dev items only) right; prints the verified rate of each mode.

    In `python -m qa.train`, after the reader is fitted: `replace(policy,
    citation_threshold=fit_citation_threshold(seeds_pipeline, dev_items, policy))`.
    """
    if any(item.split != "dev" for item in items):
        raise ConfigError(
            "the citation threshold is fitted on the dev split only: pass load_dataset(path, 'dev')"
        )
    answers = scripted(pipeline, items, policy or pipeline.answerer.policy)
    threshold, score, low, high = best_threshold(answers)
    rates = verified_rates(answers, threshold)
    print(
        f"citation threshold {threshold:.3f} (right {score:.3f}, as at any from {low:.3f} to "
        f"{high:.3f}); verified per mode on {len(items)} dev items:"
    )
    for mode, rate in rates.items():
        print(f"  {mode:<13}{rate:.3f}  of {sum(a.mode == mode for a in answers)}")
    return threshold


def main(argv: list[str] | None = None) -> None:
    """Print the citation threshold the shipped (or given) policy would be fitted with."""
    from qa.answer.policy import load_policy
    from qa.config import Settings
    from qa.eval.evaluation import load_dataset
    from qa.train.examples import seeds_pipeline

    parser = argparse.ArgumentParser(
        prog="python -m qa.train.citation_fit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--dataset", type=Path, default=Path("evals/qa_pairs.jsonl"))
    parser.add_argument("--cache", type=Path, default=Path(".qa-cache"))
    parser.add_argument("--policy", type=Path, default=None, help="a policy file to fit for")
    args = parser.parse_args(argv)
    pipeline = seeds_pipeline(Settings(backend="extractive"), args.cache)
    fit_citation_threshold(pipeline, load_dataset(args.dataset, "dev"), load_policy(args.policy))


if __name__ == "__main__":
    main()
