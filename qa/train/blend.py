"""Blend the cross-encoder's probability into the reader, and choose the operating point again.

    python -m qa.train.blend [--limit 600] [--cache .qa-cache/blend] [--benchmarks ...]

Cases are built as for the trees (`qa.train.examples`: each question retrieved for over its
whole source, as `ask` does, now with the cross-encoder reranking and reading), `--limit`
questions per qa-train source. On the training cases a logistic regression per question
language learns how much the trees' log-odds and the cross-encoder's count (three numbers per
language: each question weighs the same, in-domain ones `DOMAIN_WEIGHT` times). The operating
point is then chosen on the validation cases by the rule of `qa.train.decide`; the trees are
the shipped ones, unchanged. Writes the policy and its model card.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import cast

import numpy as np

from qa.answer.policy import Policy, load_policy, logit
from qa.answer.question import Lang
from qa.train.cards import write_card
from qa.train.decide import (
    at,
    by_language,
    choose_lead,
    operating_points,
    outcomes,
    risk_coverage,
    score_with,
)
from qa.train.examples import DOMAIN, SOURCES, Case, Part, build, load_cases
from qa.train.fit import (
    _HERE,
    CEILINGS,
    DOMAIN_WEIGHT,
    card,
    held_out_figures,
    in_training,
    in_validation,
)


def columns(case: Case, reader_policy: Policy) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A case's candidates as (log-odds of the trees, log-odds of the cross-encoder) rows,
    their labels and weights (the question sums to 1, an in-domain one to DOMAIN_WEIGHT)."""
    n = sum(len(p.x) for p in case.parts)
    weight = DOMAIN_WEIGHT if ":" not in case.source else 1.0
    xs, ys, ws = [], [], []
    for part in case.parts:
        if not len(part.x) or part.cross is None:
            continue
        trees = reader_policy.reader.predict(part.x)
        xs.append(np.column_stack([logit(trees), logit(np.nan_to_num(part.cross))]))
        ys.append(part.y.any(axis=1) & case.should_answer)
        ws.append(np.full(len(part.x), weight / n))
    if not xs:
        return np.zeros((0, 2)), np.zeros(0, bool), np.zeros(0)
    return np.vstack(xs), np.concatenate(ys), np.concatenate(ws)


def fit_blend(cases: Sequence[Case], policy: Policy) -> dict[str, tuple[float, float, float]]:
    """Per question language, the logistic blend's (tree weight, cross weight, bias)."""
    from sklearn.linear_model import LogisticRegression

    out = {}
    for lang, mine in sorted(by_language(cases).items()):
        rows = [columns(c, policy) for c in mine]
        x = np.vstack([r[0] for r in rows])
        y = np.concatenate([r[1] for r in rows])
        w = np.concatenate([r[2] for r in rows])
        model = LogisticRegression(C=1.0).fit(x, y, sample_weight=w / w.mean())
        a, b = (float(v) for v in model.coef_[0])
        out[lang] = (a, b, float(model.intercept_[0]))
    return out


TREES_ALONE = (1.0, 0.0, 0.0)  # a blend that is the trees' probability unchanged


def _predictor(policy: Policy) -> Callable[[Part, str], np.ndarray]:
    def predict(part: Part, lang: str) -> np.ndarray:
        trees = policy.reader.predict(part.x)
        if not len(trees) or part.cross is None:
            return trees
        return policy.blended(trees, np.nan_to_num(part.cross), cast(Lang, lang))

    return predict


def rejection(valid: Sequence[Case], policy: Policy) -> dict[str, float]:
    """Per language, the mean rejection of its validation sources at its operating point."""
    scored = score_with(valid, _predictor(policy))
    points = operating_points(scored, CEILINGS)
    out = {}
    for lang, mine in by_language(scored).items():
        table = at(outcomes(mine), points[lang])
        values = [o["rejection"] for o in table.values() if "rejection" in o]
        out[lang] = float(np.mean(values)) if values else 0.0
    return out


def choose(
    valid: Sequence[Case], policy: Policy, fitted: dict[str, tuple[float, float, float]]
) -> dict[str, tuple[float, float, float]]:
    """Per language, the fitted blend where it rejects more on the validation cases at its
    operating point than the trees alone do (both under the same false-refusal ceilings),
    else the trees alone."""
    alone = rejection(valid, dataclasses.replace(policy, blend=None))
    blended = rejection(valid, dataclasses.replace(policy, blend=fitted))
    print(json.dumps({"rejection, trees alone": alone, "rejection, blended": blended}))
    return {lang: fitted[lang] if blended[lang] > alone[lang] else TREES_ALONE for lang in fitted}


def main(argv: list[str] | None = None) -> None:
    """Build the cases (cached), fit the blend, choose the operating point, write the policy."""
    parser = argparse.ArgumentParser(prog="python -m qa.train.blend", description=__doc__)
    parser.add_argument("--benchmarks", type=Path, default=Path("../shared/benchmarks"))
    parser.add_argument("--dataset", type=Path, default=Path("evals/qa_pairs.jsonl"))
    parser.add_argument("--cache", type=Path, default=Path(".qa-cache/blend"))
    parser.add_argument("--limit", type=int, default=600, help="questions per qa-train source")
    parser.add_argument("--out", type=Path, default=_HERE / "policy.json")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for name in (*SOURCES, *DOMAIN):
        print(build(args.benchmarks, args.cache, name, args.limit, args.dataset), flush=True)
    cases = load_cases(args.cache)
    shipped = load_policy()
    fitted_blend = fit_blend([c for c in cases if in_training(c)], shipped)
    valid = [c for c in cases if in_validation(c)]
    blend = choose(valid, shipped, fitted_blend)
    policy = dataclasses.replace(shipped, blend=blend)
    scored = score_with(valid, _predictor(policy))
    held = [c for c in scored if c.source.endswith(":valid")]
    # a language whose blend is the trees alone keeps the point chosen on all the validation
    # cases (`python -m qa.train`), not one re-chosen on this smaller sample
    chosen = operating_points(scored, CEILINGS)
    thresholds = {
        lang: shipped.thresholds[lang] if blend[lang] == TREES_ALONE else t
        for lang, t in chosen.items()
    }
    lead = choose_lead(held, thresholds)
    languages = by_language(scored)
    fitted = dict(shipped.fitted_on)
    fitted.update(
        {
            "blend_cases": dict(Counter(case.source for case in cases)),
            "outcomes": {
                lang: at(outcomes(mine, lead=lead), thresholds[lang])
                for lang, mine in sorted(languages.items())
            },
            "held_out": held_out_figures(held),
            "risk_coverage": {
                lang: risk_coverage(mine, lead=lead)[::10]
                for lang, mine in sorted(languages.items())
            },
            "blend_seconds": round(time.perf_counter() - started),
        }
    )
    policy = dataclasses.replace(
        policy,
        thresholds=thresholds,
        lead=lead,
        fitted_on=fitted,
        version=shipped.version.removesuffix("+cross") + "+cross",
    )
    args.out.write_text(json.dumps(policy.to_json(), ensure_ascii=False) + "\n", "utf-8")
    text = card(policy, fitted.get("features_used", {}))
    write_card(args.out.with_suffix(".md"), text)
    print(json.dumps({"blend": blend, "thresholds": thresholds, "lead": lead}))
    print(text)


if __name__ == "__main__":
    main()
