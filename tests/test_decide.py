"""The operating point: per question language, the highest threshold within the false-refusal
ceilings (pure logic over made-up scores, no model)."""

from __future__ import annotations

import numpy as np

from qa.train.decide import Scored, choose_lead, operating_points


def case(source: str, lang: str, score: float, answerable: bool = True) -> Scored:
    """A one-part question whose single candidate scores `score` (and holds the answer when
    the question is answerable)."""
    holds = np.array([[answerable]])
    return Scored(source, answerable, [(np.array([score]), holds, 1)], lang)


def test_each_language_gets_the_highest_threshold_its_own_sources_allow() -> None:
    # English answers score low (0.1 to 1.0), Chinese ones high (0.5 to 1.0)
    english = [case("en-set", "en", s) for s in np.linspace(0.1, 1.0, 10)]
    chinese = [case("zh-set", "zh", s) for s in np.linspace(0.5, 1.0, 10)]
    unanswerable = [case("zh-set", "zh", 0.3, answerable=False)]
    points = operating_points([*english, *chinese, *unanswerable], {})
    # 10% of each language's answerable questions may be declined: its lowest one
    assert points["en"] == 0.2
    assert points["zh"] == 0.555
    # so the Chinese unanswerable question (0.3) is declined, as one threshold (0.2) would not
    assert points["zh"] > 0.3


def test_a_source_with_a_lower_ceiling_binds_its_language() -> None:
    seeds = [case("seeds", "en", s) for s in np.linspace(0.1, 1.0, 10)]
    assert operating_points(seeds, {"seeds": 0.05}) == {"en": 0.1}


def test_a_close_second_is_cited_only_where_it_wins_answers() -> None:
    scores = np.array([0.6, 0.56])  # the second within 0.05 of the first

    def cases(holds: list[list[bool]]) -> list[Scored]:
        return [Scored("s", True, [(scores, np.array(holds), 1)], "zh")] * 3

    assert choose_lead(cases([[False], [True]]), {"zh": 0.5}) >= 0.05  # it holds the answer
    assert choose_lead(cases([[True], [False]]), {"zh": 0.5}) == 0.0  # it adds nothing
