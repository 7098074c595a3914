"""The citation check without a model: which text each `[n]` claims, and that a claim is only
verified by a sentence that states every one of its figures, years, dates and names."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from qa.answer.citations import Checked, CitationChecker, Claim, claim_constraints, unmet
from qa.answer.features import FEATURE_TABLE_VERSION, FEATURES, Context
from qa.answer.policy import Policy, load_policy, parse_policy
from qa.answer.reader import Reader
from qa.answer.retrieval import Hit
from qa.errors import ConfigError
from qa.eval.evaluation import EvalItem
from qa.index.records import ChunkRecord, Spans
from qa.text import split_sentences
from qa.train.citation_fit import Scripted, best_threshold, fit_citation_threshold

SEVEN = (
    "Haiyan Economic Development Zone was the only pilot region of seven units of the whole "
    "Jiaxing in this list."
)
CLUSTER = (
    "With more than 70 enterprises in the cluster, it generated an output value of nearly 14 "
    "billion yuan last year."
)
FOUNDED = "Haichen Precision Machinery, established in 1998, specializes in core components."
NO_CONTEXT = Context(title="", date=None, before="")


class HashEmbedder:
    """Unit vectors from a hash of the text: the same text, the same vector; no model."""

    model_id = "hash"
    dimension = 16

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        rows = [
            np.frombuffer(hashlib.sha256(t.encode()).digest()[:16], dtype=np.uint8) for t in texts
        ]
        vectors = np.array(rows, dtype=np.float32).reshape(len(texts), self.dimension) + 1
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def embed_query(self, text: str) -> np.ndarray:
        return self.embed_documents([text])[0]


class StubIndex:
    """The keyword index as the checker reads it: every term weighs the same, and a passage's
    sentences are split and embedded on demand."""

    def __init__(self, records: list[ChunkRecord]) -> None:
        self.records = records

    def idf_in(self, chinese: bool) -> Callable[[str], float]:
        return lambda term: 0.0 if term == "\x00unseen" else 1.0

    def rows(self, chunk_ids: list[str]) -> list[int]:
        return [next(i for i, r in enumerate(self.records) if r.id == c) for c in chunk_ids]

    def sentences(self, row: int) -> tuple[Spans, np.ndarray]:
        record = self.records[row]
        texts = [record.text[s:e] for s, e in record.sentences]
        return record.sentences, HashEmbedder().embed_documents(texts)


def checked(answer: str, *passages: str) -> Checked:
    """`answer` checked against `passages` by a checker whose policy scores every pair 1, so
    that only the facts rule decides."""
    records = [
        ChunkRecord(
            f"c{i}", f"{i}.txt", "A title", 20230817, 0, len(t), t, tuple(split_sentences(t))
        )
        for i, t in enumerate(passages)
    ]
    one_leaf = [np.array(a) for a in ([[0]], [[0.0]], [[-1]], [[-1]], [[0.0]])]
    reader = Reader(FEATURES, 60.0, *one_leaf, depth=1)
    always = Policy(reader, thresholds={"en": 0.5, "zh": 0.5}, version="test", fitted_on={})
    checker = CitationChecker(HashEmbedder(), StubIndex(records), always, anchors=2)  # type: ignore[arg-type]
    return checker.check(answer, [Hit(r, 1.0, 1.0) for r in records])


def test_each_marker_claims_the_text_it_closes() -> None:
    result = checked(
        "A grew 5% [1], while B fell [2]. C rose [1][2]. D [4, 1].",
        "A grew 5% this year.",
        "B fell.",
        "C rose.",
    )
    claims = [(c.text, c.n) for c in result.claims]
    assert claims == [
        ("A grew 5%", 1),
        ("while B fell", 2),
        ("C rose", 1),  # adjacent markers cite one claim twice
        ("C rose", 2),
        ("D", 1),  # [4] names a passage that was never shown
    ]
    assert [c.index for c in result.claims] == [0, 1, 2, 2, 3]


def test_a_marker_after_the_full_stop_closes_the_sentence_before_it() -> None:
    result = checked("The cluster has 70 enterprises. [1] Next.", CLUSTER)
    assert [c.text for c in result.claims] == ["The cluster has 70 enterprises"]
    assert result.text == "The cluster has 70 enterprises [1]. Next."


def test_only_the_claim_with_a_changed_figure_is_unverified() -> None:
    answer = (
        "It had more than 70 enterprises [1], and 14 billion yuan of output [1]; it has 80 [1]."
    )
    result = checked(answer, CLUSTER)
    assert [c.verified for c in result.claims] == [True, True, False]
    assert result.claims[2].missing == "80"
    assert (result.unverified, result.claimed) == (1, 3)
    assert result.text.count("[1]") == 2 and "[2]" in result.text  # the unverified one
    assert [c.verified for c in result.citations] == [True, False]


@pytest.mark.parametrize(
    ("claim", "sentence", "missing"),
    [
        ("It was the only pilot region of ten units", SEVEN, "10"),
        ("It was the only pilot region of 7 units", SEVEN, None),  # "seven" is 7
        ("The cluster generated 14 billion yuan in 2021", CLUSTER + " It was 2022.", "2021"),
        ("Haichen Precision Machinery was established in 1998", FOUNDED, None),
        ("Haichen Precision Machinery was established in 1999", FOUNDED, "1999"),
        (
            "Wanfeng Precision Machinery was established in 1998",
            FOUNDED,
            "wanfeng precision machinery",
        ),
        ("The cluster has more than 70 enterprises, not 700", CLUSTER, None),  # 700 is denied
        ("集群有70多家企业，去年产值近140亿元", CLUSTER, None),  # the same figures, in Chinese
        ("集群有80多家企业", CLUSTER, "80"),
        ("嘉兴共有七家单位入选，海盐经济开发区是其中唯一的试点区域", SEVEN, None),
    ],
)
def test_every_fact_of_a_claim_must_be_stated(
    claim: str, sentence: str, missing: str | None
) -> None:
    assert unmet(claim_constraints(claim), sentence, NO_CONTEXT) == missing


def test_the_context_states_facts_too() -> None:
    claim = claim_constraints("In 2023, Pinghu's cluster had more than 70 enterprises")
    title = "Pinghu CNC cluster"
    assert unmet(claim, CLUSTER, NO_CONTEXT) == "2023"
    assert unmet(claim, CLUSTER, Context(title=title, date=dt.date(2023, 3, 9), before="")) is None


def test_the_citation_threshold_is_policy_data() -> None:
    leaf = {"feature": [[0]], "threshold": [[0.0]], "left": [[-1]], "right": [[-1]]}
    reader = {"features": list(FEATURES), "baseline": 0.0, "depth": 1, **leaf, "value": [[0.0]]}
    data = {"version": "v", "feature_table": FEATURE_TABLE_VERSION, "reader": reader}
    points = {"thresholds": {"en": 0.5, "zh": 0.2}}
    # unfitted, the strictest answer threshold stands in
    assert parse_policy({**data, **points}, "p").supports(0.4) is False
    fitted = parse_policy({**data, **points, "citation_threshold": 0.3}, "p")
    assert fitted.supports(0.4) and fitted.to_json()["citation_threshold"] == 0.3


def test_the_fitted_threshold_separates_what_should_verify_from_what_should_not() -> None:
    def answer(mode: str, score: float, missing: str | None = None) -> Scripted:
        claim = Claim(0, "c", 1, 0, 1, missing, score, False)
        return Scripted("q", mode, [claim])  # type: ignore[arg-type]

    answers = [
        answer("faithful", 0.9),
        answer("reworded", 0.4),
        answer("altered", 0.95, missing="10"),  # a high score, but a fact is missing
        answer("unrelated", 0.2),
    ]
    threshold, right, low, high = best_threshold(answers)
    assert right == 1.0 and (low, high) == (0.205, 0.4) and low <= threshold <= high


def test_the_citation_threshold_is_fitted_on_dev_items_only() -> None:
    test_item = EvalItem(id="q", question="q?", split="test")
    with pytest.raises(ConfigError, match="dev split only"):
        fit_citation_threshold(None, [test_item])  # type: ignore[arg-type]


def test_a_policy_fitted_on_other_features_is_refused() -> None:
    leaf = {"feature": [[0]], "threshold": [[0.0]], "left": [[-1]], "right": [[-1]]}
    reader = {"features": ["support"], "baseline": 0.0, "depth": 1, **leaf, "value": [[0.0]]}
    with pytest.raises(ConfigError, match=r"python -m qa\.train"):
        parse_policy({"version": "v", "thresholds": {"en": 0.5, "zh": 0.5}, "reader": reader}, "p")


def test_a_policy_fitted_on_another_feature_table_is_refused() -> None:
    """Same names, but a scale or sign changed since: the file records the table it was fitted
    on, so the trees are not fed values on another scale."""
    shipped = load_policy().to_json()
    assert shipped["feature_table"] == FEATURE_TABLE_VERSION
    with pytest.raises(ConfigError, match=r"feature table 0badc0de .*python -m qa\.train"):
        parse_policy({**shipped, "feature_table": "0badc0de"}, "p")
