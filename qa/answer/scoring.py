"""The one sentence scorer: a question's (or a claim's) sentences to features and probabilities.

The extractive answerer (its candidates) and the citation check (the sentences of a cited
passage) both score sentences this way: named features of each (`qa.answer.features`), the gap
features relating them, the policy's trees on the eligible ones, and where a cross-encoder is
given, its probability of the trees' best `read` sentences blended in (the others read as 0,
as in training).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.answer.features import Context, Featured, featurise, relate, sentence_terms
from qa.answer.policy import Policy
from qa.answer.question import Question
from qa.cross.scorer import CrossScorer


@dataclass(frozen=True)
class Sentence:
    """A sentence to score, with what its features read beside it."""

    text: str
    context: Context
    similarity: tuple[float, float]  # to the question: alone, and with the sentence before
    standing: float  # its passage's fused score over the best passage's


@dataclass(frozen=True)
class Scores:
    """Per sentence: its features, its probability (0 when ineligible) and the cross-encoder's
    probability where it read the sentence."""

    featured: list[Featured]
    probability: list[float]
    cross: list[float | None]


def score_sentences(
    question: Question,
    sentences: Sequence[Sentence],
    policy: Policy,
    weights: dict[str, float],
    anchors: frozenset[str],
    *,
    terms_of: Callable[[str], frozenset[str]] = sentence_terms,
    scorer: CrossScorer | None = None,
    read: int = 0,
) -> Scores:
    """Every sentence's features and probability that it answers `question`."""
    featured = relate(
        [
            featurise(
                question, s.text, s.context, s.similarity, s.standing, weights, anchors, terms_of
            )
            for s in sentences
        ]
    )
    eligible = [i for i, f in enumerate(featured) if not f.ineligible]
    probs = policy.scores([featured[i].values for i in eligible])
    cross: dict[int, float] = {}
    if scorer is not None and eligible and read and policy.reads(question.lang):
        best = [eligible[j] for j in np.argsort(-probs, kind="stable")[:read]]
        found = scorer.scores(question.text, [sentences[i].text for i in best])
        cross = dict(zip(best, found.tolist(), strict=True))
        probs = policy.blended(
            probs, np.array([cross.get(i, 0.0) for i in eligible]), question.lang
        )
    by_index = dict(zip(eligible, probs.tolist(), strict=True))
    return Scores(
        featured,
        [by_index.get(i, 0.0) for i in range(len(sentences))],
        [cross.get(i) for i in range(len(sentences))],
    )
