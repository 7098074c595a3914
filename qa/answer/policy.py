"""The answer policy: one logistic score over a candidate's named features, the cut-off above
which a sentence answers, and the cut-off above which a sentence supports an LLM's cited claim
(`qa.answer.citations`). Its parameters are fitted on tuning data by `python -m qa.train.fit`
(the citation cut-off by `qa.train.citation_fit`) and stored in `policy.json` beside this
module; nothing here is tuned by hand.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from qa.answer.features import FEATURES
from qa.errors import ConfigError


@dataclass(frozen=True)
class Policy:
    """Weights per feature, a bias and the thresholds on the resulting probability."""

    weights: dict[str, float]
    bias: float
    threshold: float
    version: str
    fitted_on: dict[str, Any]
    # a claim scored with its cited sentence as the answer to it; None: not fitted yet, so the
    # answer threshold stands in
    citation_threshold: float | None = None

    def score(self, values: dict[str, float]) -> float:
        """The probability that a sentence with these feature values answers the question."""
        z = self.bias + sum(w * values.get(name, 0.0) for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, z))))

    def accepts(self, score: float) -> bool:
        """Whether a score is high enough to answer."""
        return score >= self.threshold

    @property
    def citation_cut(self) -> float:
        """The threshold a claim–sentence score must reach (the answer threshold if unfitted)."""
        return self.threshold if self.citation_threshold is None else self.citation_threshold

    def supports(self, score: float) -> bool:
        """Whether a claim–sentence score is high enough for the sentence to verify the claim."""
        return score >= self.citation_cut

    def to_json(self) -> dict[str, Any]:
        """The data-file form of the policy."""
        return {
            "version": self.version,
            "features": list(self.weights),
            "weights": [round(w, 6) for w in self.weights.values()],
            "bias": round(self.bias, 6),
            "threshold": round(self.threshold, 6),
            **(
                {"citation_threshold": round(self.citation_threshold, 6)}
                if self.citation_threshold is not None
                else {}
            ),
            "fitted_on": self.fitted_on,
        }


DEFAULT_FILE = "policy.json"


def parse_policy(data: dict[str, Any], where: str) -> Policy:
    """A Policy from its JSON form; ConfigError when it does not match today's features."""
    try:
        names, weights = list(data["features"]), [float(w) for w in data["weights"]]
        policy = Policy(
            weights=dict(zip(names, weights, strict=True)),
            bias=float(data["bias"]),
            threshold=float(data["threshold"]),
            version=str(data["version"]),
            fitted_on=dict(data.get("fitted_on", {})),
            citation_threshold=(
                float(data["citation_threshold"]) if "citation_threshold" in data else None
            ),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(
            f"{where} is not a valid answer policy ({exc}): "
            "re-fit it with `python -m qa.train.fit`"
        ) from None
    unknown = set(policy.weights) - set(FEATURES)
    if unknown:
        raise ConfigError(
            f"{where} weighs features this version does not compute "
            f"({', '.join(sorted(unknown))}): re-fit it with `python -m qa.train.fit`"
        )
    return policy


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
