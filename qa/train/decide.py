"""What a reader's scores decide, question by question: accuracy, rejection and false refusals
per data source at every threshold, the operating point, and the risk–coverage curve.

The operating point is a stated cost, not a mean of accuracy and rejection (which rewards
declining everything on a set the answerer handles badly): the highest threshold at which no
source declines more than its ceiling of the questions it can answer; the rejection is then
as much as that allows. Each question language has its own: the reader's probabilities are
not calibrated alike across languages (an English answer scores lower than a Chinese one),
so one threshold for both is set by the weaker language and leaves the other declining little.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from qa.answer.policy import within_lead
from qa.answer.reader import Reader
from qa.config import Settings
from qa.train.examples import Case, Part

GRID = np.round(np.arange(1, 200) / 200, 3)  # thresholds on the probability, 0.005 apart
CEILING = 0.10  # false refusals allowed on a source, unless `ceilings` says otherwise
LIMIT: int = Settings.model_fields["answer_sentences"].default  # most sentences of an answer
LEADS = (0.0, 0.05, 0.1, 0.2, 0.3)  # leads tried for citing a close second
L = TypeVar("L", "Case", "Scored")  # a case, scored or not: both know their language
PER_SENTENCE = 0.1  # a wider lead must win this much accuracy for each sentence it adds


@dataclass(frozen=True)
class Scored:
    """One case with its candidates' probabilities: per part the scores, best first, the gold
    parts each of those holds, and how many sentences may answer."""

    source: str
    should_answer: bool
    parts: Sequence[tuple[np.ndarray, np.ndarray, int]]
    lang: str

    @property
    def best(self) -> float:
        """The best candidate's probability (0 without candidates)."""
        return max((float(s[0]) for s, _, _ in self.parts if len(s)), default=0.0)

    @property
    def reachable(self) -> bool:
        """Whether a candidate holds a gold answer (retrieval found it)."""
        return any(bool(y.any()) for _, y, _ in self.parts)

    @property
    def top_holds(self) -> bool:
        """Whether its best candidate holds a gold answer."""
        parts = [(s[0], y[0].any()) for s, y, _ in self.parts if len(s)]
        return bool(parts) and bool(max(parts, key=lambda p: p[0])[1])


def score(cases: Sequence[Case], reader: Reader) -> list[Scored]:
    """Every case's candidates scored by the reader."""
    return score_with(cases, lambda part, _lang: reader.predict(part.x))


def score_with(cases: Sequence[Case], predict: Callable[[Part, str], np.ndarray]) -> list[Scored]:
    """Every case's candidates scored by `predict` (of a part and the question's language)."""
    out = []
    for case in cases:
        parts = []
        for part in case.parts:
            s = predict(part, case.lang)
            order = np.argsort(-s, kind="stable")
            parts.append((s[order], part.y[order], part.most))
        out.append(Scored(case.source, case.should_answer, parts, case.lang))
    return out


def by_language(scored: Sequence[L]) -> dict[str, list[L]]:
    """The cases (scored or not) of each question language."""
    out: dict[str, list[L]] = {}
    for case in scored:
        out.setdefault(case.lang, []).append(case)
    return out


def operating_points(
    scored: Sequence[Scored], ceilings: Mapping[str, float]
) -> dict[str, float]:
    """Per question language, its `operating_point` over the cases in that language."""
    return {
        lang: operating_point(outcomes(mine), ceilings)
        for lang, mine in sorted(by_language(scored).items())
    }


def allowed(scores: np.ndarray, most: int, lead: float, limit: int = LIMIT) -> int:
    """How many of a part's candidates (best first) an answer may take: `most`, or for a
    one-sentence part as many as `within_lead` cites."""
    return within_lead(scores, lead, limit) if most == 1 else most


def outcomes(
    scored: Sequence[Scored], grid: np.ndarray = GRID, lead: float = 0.0
) -> dict[str, np.ndarray]:
    """Per source, at every threshold of `grid`: accuracy (answered, and the sentences taken
    hold every gold part), rejection (unanswerable and declined) and false refusals
    (answerable and declined), as a 3 × thresholds array (nan where a source has none)."""
    table: dict[str, list[tuple[np.ndarray, bool]]] = {}
    for case in scored:
        answered = np.zeros(len(grid), dtype=bool)
        covered: np.ndarray | None = None
        for scores, holds, most in case.parts:
            most = allowed(scores, most, lead)
            top, gold = scores[:most], holds.shape[1]
            taken = (top[None, :] >= grid[:, None]).sum(axis=1)
            running = np.logical_or.accumulate(holds[:most], axis=0)
            held = np.vstack([np.zeros((1, gold), dtype=bool), running])[taken]
            answered |= taken > 0
            covered = held if covered is None else covered | held
        right = covered.all(axis=1) if covered is not None else np.zeros(len(grid), dtype=bool)
        row = np.vstack([right & answered, ~answered]).astype(float)
        table.setdefault(case.source, []).append((row, case.should_answer))
    out = {}
    for source, rows in table.items():
        yes = [r for r, ok in rows if ok]
        no = [r for r, ok in rows if not ok]
        nan = np.full(len(grid), np.nan)
        out[source] = np.vstack(
            [
                np.mean([r[0] for r in yes], axis=0) if yes else nan,
                np.mean([r[1] for r in no], axis=0) if no else nan,
                np.mean([r[1] for r in yes], axis=0) if yes else nan,
            ]
        )
    return out


def operating_point(
    table: Mapping[str, np.ndarray], ceilings: Mapping[str, float], grid: np.ndarray = GRID
) -> float:
    """The highest threshold at which every source's false refusals stay within its ceiling
    (`ceilings`, else CEILING); the lowest of the grid when none does."""
    within = np.ones(len(grid), dtype=bool)
    for source, values in table.items():
        refused = np.nan_to_num(values[2])
        within &= refused <= ceilings.get(source, CEILING) + 1e-9
    passing = np.flatnonzero(within)
    return float(grid[passing[-1]]) if len(passing) else float(grid[0])


def at(
    table: Mapping[str, np.ndarray], threshold: float, grid: np.ndarray = GRID
) -> dict[str, dict[str, float]]:
    """Per source at one threshold: accuracy, rejection and false refusals (those it has)."""
    i = int(np.argmin(np.abs(grid - threshold)))
    names = ("accuracy", "rejection", "refused")
    return {
        source: {n: round(float(v[k, i]), 4) for k, n in enumerate(names) if not np.isnan(v[k, i])}
        for source, v in sorted(table.items())
    }


def risk_coverage(
    scored: Sequence[Scored], grid: np.ndarray = GRID, lead: float = 0.0
) -> list[dict[str, float]]:
    """Over all questions, at every threshold: coverage (the share answered) and risk (the share
    of those answers that are wrong: a gold part missing, or the question unanswerable)."""
    right_at = np.zeros(len(grid))
    answered_at = np.zeros(len(grid))
    for case in scored:
        table = outcomes([case], grid, lead)[case.source]
        answered = 1 - table[2] if case.should_answer else 1 - table[1]
        answered_at += answered
        right_at += np.nan_to_num(table[0]) if case.should_answer else 0
    n = max(len(scored), 1)
    return [
        {
            "threshold": float(t),
            "coverage": round(float(a / n), 4),
            "risk": round(float(1 - r / a), 4) if a else 0.0,
        }
        for t, a, r in zip(grid, answered_at, right_at, strict=True)
    ]


def sentences(scored: Sequence[Scored], thresholds: Mapping[str, float], lead: float) -> float:
    """Sentences per answered question at its language's threshold with `lead`."""
    counts = [
        sum(
            int((s[: allowed(s, most, lead)] >= thresholds[case.lang]).sum())
            for s, _, most in case.parts
        )
        for case in scored
        if case.best >= thresholds[case.lang]
    ]
    return float(np.mean(counts)) if counts else 0.0


def choose_lead(scored: Sequence[Scored], thresholds: Mapping[str, float]) -> float:
    """The widest lead of LEADS each of whose steps won at least PER_SENTENCE accuracy (pooled
    over `scored`, each at its language's threshold) for every sentence it added per answer."""

    def accuracy(lead: float) -> float:
        rights = [
            outcomes([c], np.array([thresholds[c.lang]]), lead)[c.source][0, 0]
            for c in scored
            if c.should_answer
        ]
        return float(np.mean(rights)) if rights else 0.0

    chosen, best = LEADS[0], accuracy(LEADS[0])
    length = sentences(scored, thresholds, LEADS[0])
    for lead in LEADS[1:]:
        gain, more = accuracy(lead) - best, sentences(scored, thresholds, lead) - length
        if more > 0 and gain / more < PER_SENTENCE:
            break
        chosen, best, length = lead, best + gain, length + more
    return chosen
