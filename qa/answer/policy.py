"""The answer policy: the reader (`qa.answer.reader`) that scores a candidate sentence, the
cut-off above which a sentence answers (one per question language: the reader's scores are
not calibrated alike across languages, see `qa.train.decide`), and the cut-off above which a
sentence supports an LLM's cited claim (`qa.answer.citations`). It is fitted on training data
by `python -m qa.train` (the citation cut-off by `qa.train.citation_fit`) and stored in
`policy.json` beside this module, with its model card (`policy.md`); nothing here is tuned by
hand.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, get_args

import numpy as np

from qa.answer.features import FEATURE_TABLE_VERSION, FEATURES
from qa.answer.question import Lang
from qa.answer.reader import Reader, parse_reader
from qa.errors import ConfigError


@dataclass(frozen=True)
class Policy:
    """The reader and the thresholds on its probability."""

    reader: Reader
    thresholds: Mapping[str, float]  # the operating point, by the question's language
    version: str
    fitted_on: dict[str, Any]
    # a claim scored with its cited sentence as the answer to it; None: not fitted yet, so the
    # strictest answer threshold stands in
    citation_threshold: float | None = None
    # a one-sentence answer also cites the next sentences within this of the best's probability
    lead: float = 0.0
    # per language, (tree weight, cross-encoder weight, bias) of the logistic blend of the two
    # probabilities' log-odds; None: the trees' probability alone
    blend: Mapping[str, tuple[float, float, float]] | None = None

    def scores(self, featured: Sequence[dict[str, float]]) -> np.ndarray:
        """The probability, for each candidate's feature values, that the sentence answers."""
        return self.reader.predict(self.reader.rows(featured))

    def blended(self, trees: np.ndarray, cross: np.ndarray, lang: Lang) -> np.ndarray:
        """The trees' and the cross-encoder's probabilities blended for a question in `lang`
        (the trees' alone where the policy has no blend)."""
        if self.blend is None:
            return trees
        a, b, c = self.blend[lang]
        z = a * logit(trees) + b * logit(cross) + c
        return (1.0 / (1.0 + np.exp(-z))).astype(np.float64)

    def reads(self, lang: Lang) -> bool:
        """Whether the cross-encoder reads for a question in `lang`: where the blend weighs it."""
        return self.blend is not None and self.blend[lang][1] != 0.0

    def score(self, values: dict[str, float]) -> float:
        """The probability that a sentence with these feature values answers the question."""
        return float(self.scores([values])[0])

    def threshold(self, lang: Lang) -> float:
        """The operating point for a question in `lang`."""
        return self.thresholds[lang]

    def accepts(self, score: float, lang: Lang) -> bool:
        """Whether a score is high enough to answer a question in `lang`."""
        return score >= self.threshold(lang)

    def cited(self, scores: Sequence[float], limit: int) -> int:
        """How many sentences a one-sentence answer cites (see `within_lead`)."""
        return within_lead(scores, self.lead, limit)

    @property
    def citation_cut(self) -> float:
        """The threshold a claim–sentence score must reach (the strictest answer threshold if
        unfitted)."""
        if self.citation_threshold is None:
            return max(self.thresholds.values())
        return self.citation_threshold

    def supports(self, score: float) -> bool:
        """Whether a claim–sentence score is high enough for the sentence to verify the claim."""
        return score >= self.citation_cut

    def to_json(self) -> dict[str, Any]:
        """The data-file form of the policy."""
        return {
            "version": self.version,
            "feature_table": FEATURE_TABLE_VERSION,
            "thresholds": {lang: round(t, 6) for lang, t in sorted(self.thresholds.items())},
            **(
                {"citation_threshold": round(self.citation_threshold, 6)}
                if self.citation_threshold is not None
                else {}
            ),
            "lead": round(self.lead, 6),
            **(
                {"blend": {k: [round(w, 6) for w in ws] for k, ws in sorted(self.blend.items())}}
                if self.blend is not None
                else {}
            ),
            "fitted_on": self.fitted_on,
            "reader": self.reader.to_json(),
        }


DEFAULT_FILE = "policy.json"
LANGUAGES: tuple[str, ...] = get_args(Lang)  # a question's languages, each its own threshold


def logit(p: np.ndarray) -> np.ndarray:
    """Log-odds of probabilities, kept finite (clipped to [1e-6, 1 - 1e-6])."""
    q = np.clip(np.asarray(p, dtype=np.float64), 1e-6, 1 - 1e-6)
    return np.log(q / (1 - q))


def within_lead(scores: Sequence[float] | np.ndarray, lead: float, limit: int) -> int:
    """How many sentences a one-sentence answer cites, given its candidates' probabilities
    best first: the best, and the next ones within `lead` of it, `limit` at most (1 when there
    are none). The answerer and the training's outcomes count them with this one rule."""
    if not len(scores):
        return 1
    return sum(1 for s in scores[:limit] if s >= scores[0] - lead)


def parse_policy(data: dict[str, Any], where: str) -> Policy:
    """A Policy from its JSON form; ConfigError when it does not match today's features."""
    try:
        policy = Policy(
            reader=parse_reader(data["reader"]),
            thresholds={lang: float(data["thresholds"][lang]) for lang in LANGUAGES},
            version=str(data["version"]),
            fitted_on=dict(data.get("fitted_on", {})),
            citation_threshold=(
                float(data["citation_threshold"]) if "citation_threshold" in data else None
            ),
            lead=float(data.get("lead", 0.0)),
            blend=(
                {lang: _triple(data["blend"][lang]) for lang in LANGUAGES}
                if "blend" in data
                else None
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where} is not a valid answer policy ({exc}): re-fit it with `python -m qa.train`"
        ) from None
    if policy.reader.features != FEATURES or data.get("feature_table") != FEATURE_TABLE_VERSION:
        raise ConfigError(
            f"{where} was fitted on other features than this version computes "
            f"({_changed(policy.reader.features, data.get('feature_table'))}): "
            "re-fit it with `python -m qa.train`"
        )
    return policy


def _changed(features: Sequence[str], table: object) -> str:
    """What differs between a policy file's features and today's table, in words."""
    names = sorted(set(features) ^ set(FEATURES))
    if names:
        return ", ".join(names)
    return f"feature table {table} against {FEATURE_TABLE_VERSION}: their order, signs or scales"


def _triple(values: Any) -> tuple[float, float, float]:
    a, b, c = (float(v) for v in values)
    return a, b, c


def load_policy(path: Path | None = None) -> Policy:
    """The policy in `path`, or the one shipped with the package."""
    if path is not None:
        try:
            return parse_policy(json.loads(path.read_text(encoding="utf-8")), str(path))
        except (OSError, json.JSONDecodeError) as exc:
            raise ConfigError(
                f"cannot read the answer policy {path} ({exc}): check QA_POLICY_FILE"
            ) from None
    return _shipped()


@lru_cache(maxsize=1)
def _shipped() -> Policy:
    text = resources.files(__package__).joinpath(DEFAULT_FILE).read_text("utf-8")
    return parse_policy(json.loads(text), f"qa/answer/{DEFAULT_FILE}")
