"""The reader: gradient-boosted trees over a candidate sentence's named features, giving the
probability that the sentence answers the question.

It is fitted by `python -m qa.train` (scikit-learn, at training time only) and shipped as the
`reader` of the policy file; here it only predicts, with numpy, all candidates of a question at
once. A reader refuses to load against features this version does not compute.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True, eq=False)  # arrays: compare predictions, not objects
class Reader:
    """Trees as flat node arrays (trees × nodes): the feature tested, the threshold (left when
    the value is at most it), the children, and the value of each leaf (children -1)."""

    features: tuple[str, ...]
    baseline: float
    feature: np.ndarray
    threshold: np.ndarray
    left: np.ndarray
    right: np.ndarray
    value: np.ndarray
    depth: int

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The probability for each row of feature values (rows × features, FEATURES order)."""
        if not len(rows):
            return np.zeros(0)
        trees = np.arange(len(self.feature))[None, :]
        node = np.zeros((len(rows), len(self.feature)), dtype=np.int64)
        samples = np.arange(len(rows))[:, None]
        for _ in range(self.depth):
            go_left = rows[samples, self.feature[trees, node]] <= self.threshold[trees, node]
            child = np.where(go_left, self.left[trees, node], self.right[trees, node])
            node = np.where(child < 0, node, child)  # a leaf stays where it is
        raw = self.baseline + self.value[trees, node].sum(axis=1)
        probability: np.ndarray = 1.0 / (1.0 + np.exp(-np.clip(raw, -60.0, 60.0)))
        return probability

    def rows(self, featured: Sequence[dict[str, float]]) -> np.ndarray:
        """The feature values of candidates as the rows `predict` takes."""
        return np.array(
            [[values.get(name, 0.0) for name in self.features] for values in featured],
            dtype=float,
        ).reshape(len(featured), len(self.features))

    def to_json(self) -> dict[str, Any]:
        """The data-file form: node arrays as lists, floats rounded to 6 places."""
        return {
            "kind": "gradient-boosted trees",
            "features": list(self.features),
            "baseline": round(self.baseline, 6),
            "depth": self.depth,
            "feature": self.feature.tolist(),
            "threshold": np.round(self.threshold, 6).tolist(),
            "left": self.left.tolist(),
            "right": self.right.tolist(),
            "value": np.round(self.value, 6).tolist(),
        }


def parse_reader(data: dict[str, Any]) -> Reader:
    """A Reader from its JSON form (KeyError, ValueError or TypeError when malformed)."""
    whole = {"feature", "left", "right"}  # node indexes; the rest are floats
    arrays = {
        name: np.array(data[name], dtype=np.int64 if name in whole else float)
        for name in ("feature", "threshold", "left", "right", "value")
    }
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1 or len(next(iter(shapes))) != 2:
        raise ValueError("the reader's node arrays must all be trees × nodes")
    return Reader(
        features=tuple(str(f) for f in data["features"]),
        baseline=float(data["baseline"]),
        depth=int(data["depth"]),
        **arrays,
    )
