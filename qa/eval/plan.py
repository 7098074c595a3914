"""What one eval run scores (`EvalPlan`): the seeds' pairs, the retrievers and backend, the
gate, where the reports go, and RGB when asked. `qa eval` and `python -m qa.eval run` build
one from their options; `qa.eval.run.evaluate` carries it out."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import ConfigError

if TYPE_CHECKING:  # types only: `qa --help` imports this module and stays quick
    from qa.answer.retrieval import Mode
    from qa.eval.evaluation import Split
    from qa.eval.rgb_eval import RGBConfig

DATASET = Path("evals/qa_pairs.jsonl")
THRESHOLDS = Path("evals/thresholds.toml")  # the repository's gate, read when run in it


@dataclass(frozen=True)
class EvalPlan:
    """One eval run. `thresholds` None: report only, gate nothing; `out` None: write no
    report files; `seeds` False: skip the hand-written pairs (then `rgb` must be given)."""

    dataset: Path = DATASET
    split: Split = "all"
    backend: str = "extractive"
    retrievers: tuple[Mode, ...] = ("hybrid",)
    out: Path | None = None
    thresholds: Path | None = None
    seeds: bool = True
    rgb: RGBConfig | None = None

    def __post_init__(self) -> None:
        if not self.seeds and self.rgb is None:
            raise ConfigError("nothing to evaluate: drop --no-seeds, or add --rgb")
        if not self.retrievers:
            raise ConfigError("no retriever to evaluate: give --retriever hybrid, dense or bm25")
