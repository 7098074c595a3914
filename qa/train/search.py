"""Coordinate search of the policy's weights and threshold on the decision objective.

The logistic fit (`qa.train.fit.fit_weights`) learns which sentences hold an answer; what the
product needs is the decision per question (answer with these sentences, or decline). Starting
from the logistic weights, this search moves one weight at a time by a few fixed steps and
keeps a move when the tuning objective (`_objective`) rises, with the best
threshold for every trial. It reads tuning data only, like the fit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

_STEPS = (-1.0, -0.5, -0.25, 0.25, 0.5, 1.0)
_ROUNDS = 4
_MIN_GAIN = 0.005  # a move must win at least this much: smaller gains are one question of noise
_GRID = np.linspace(0.02, 0.98, 97)  # thresholds on the probability


@dataclass(frozen=True)
class Part:
    """One question part: its candidates' features, the gold parts each holds, and how many
    sentences may answer it."""

    x: np.ndarray  # n × f
    y: np.ndarray  # n × g, bool
    most: int


@dataclass(frozen=True)
class Case:
    """One question over one corpus, as the search sees it."""

    source: str
    should_answer: bool
    parts: Sequence[Part]


def decide(cases: Sequence[Case], w: np.ndarray, b: float) -> dict[str, np.ndarray]:
    """Per source, for every threshold of the grid: accuracy, rejection and refusals (3 × t)."""
    z_grid = np.log(_GRID / (1 - _GRID))
    table: dict[str, list[tuple[np.ndarray, bool]]] = {}
    for case in cases:
        answered = np.zeros(len(z_grid), dtype=bool)
        covered: np.ndarray | None = None
        for part in case.parts:
            gold = part.y.shape[1]
            if not len(part.x):
                held = np.zeros((len(z_grid), gold), dtype=bool)
            else:
                z = part.x @ w + b
                order = np.argsort(-z)[: part.most]
                top = z[order]  # best first
                taken = (top[None, :] >= z_grid[:, None]).sum(axis=1)  # per threshold
                running = np.logical_or.accumulate(part.y[order], axis=0)  # gold held by top-k
                held = np.vstack([np.zeros((1, gold), dtype=bool), running])[taken]
                answered |= taken > 0
            covered = held if covered is None else covered | held
        right = covered.all(axis=1) if covered is not None else np.zeros(len(z_grid), bool)
        row = np.vstack([right, ~answered, ~answered]).astype(float)
        table.setdefault(case.source, []).append((row, case.should_answer))
    out = {}
    for source, rows in table.items():
        answerable = [r for r, ok in rows if ok]
        unanswerable = [r for r, ok in rows if not ok]
        zero = np.full(len(z_grid), np.nan)
        accuracy = np.mean([r[0] for r in answerable], axis=0) if answerable else zero
        refused = np.mean([r[2] for r in answerable], axis=0) if answerable else zero
        rejection = np.mean([r[1] for r in unanswerable], axis=0) if unanswerable else zero
        out[source] = np.vstack([accuracy, rejection, refused])
    return out


def _objective(
    cases: Sequence[Case], w: np.ndarray, b: float, share: Callable[[str, list[str]], float]
) -> np.ndarray:
    """The objective at every threshold of the grid: over sources, weighted by `share`, the
    mean of accuracy and rejection."""
    decided = decide(cases, w, b)
    sources = sorted(decided)
    total = np.zeros(len(_GRID))
    for source in sources:
        accuracy, rejection = np.nan_to_num(decided[source][0]), np.nan_to_num(decided[source][1])
        total += share(source, sources) * (accuracy + rejection) / 2
    return total


def _grid_at(threshold: float) -> int:
    """The grid point nearest a threshold."""
    return int(np.argmin(np.abs(_GRID - threshold)))


def best_threshold(
    cases: Sequence[Case], w: np.ndarray, b: float, share: Callable[[str, list[str]], float]
) -> tuple[float, float]:
    """The objective's best value over the threshold grid, and that threshold."""
    total = _objective(cases, w, b, share)
    at = int(np.argmax(total))
    return float(total[at]), float(_GRID[at])


def objective_at(
    cases: Sequence[Case],
    w: np.ndarray,
    b: float,
    threshold: float,
    share: Callable[[str, list[str]], float],
) -> float:
    """The objective at one threshold."""
    return float(_objective(cases, w, b, share)[_grid_at(threshold)])


def outcomes(
    cases: Sequence[Case], w: np.ndarray, b: float, threshold: float
) -> dict[str, dict[str, float]]:
    """Per source at one threshold: accuracy, rejection and false refusals."""
    at = _grid_at(threshold)
    names = ("accuracy", "rejection", "refused")
    return {
        source: {
            n: round(float(v[i, at]), 4) for i, n in enumerate(names) if not np.isnan(v[i, at])
        }
        for source, v in decide(cases, w, b).items()
    }


def refine(
    cases: Sequence[Case],
    w: np.ndarray,
    b: float,
    share: Callable[[str, list[str]], float],
    signs: np.ndarray,
) -> tuple[np.ndarray, float, float, float]:
    """Weights, bias, threshold and objective after the coordinate search from (w, b); a
    weight never crosses zero against its sign in `signs` (+1, -1, or 0 for either)."""
    w = w.copy()
    best, threshold = best_threshold(cases, w, b, share)
    for _ in range(_ROUNDS):
        moved = False
        for j in range(len(w) + 1):  # the last coordinate is the bias
            for step in _STEPS:
                trial_w, trial_b = w.copy(), b
                if j < len(w):
                    trial_w[j] += step
                    if trial_w[j] * signs[j] < 0:
                        continue
                else:
                    trial_b += step
                score, at = best_threshold(cases, trial_w, trial_b, share)
                if score > best + _MIN_GAIN:
                    best, threshold, w, b, moved = score, at, trial_w, trial_b, True
        if not moved:
            break
    return w, b, threshold, best
