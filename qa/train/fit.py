"""Fit the answer policy on tuning data and write it as a data file.

    python -m qa.train.fit [--benchmarks ../shared/benchmarks] [--out qa/answer/policy.json]
    python -m qa.train.fit --rescore    # keep the policy in --out, measure it again

Tuning data, and only tuning data: the seeds' dev split (`evals/qa_pairs.jsonl`) and the tuning
half of the RGB benchmark (every tuning item over its full corpus; the rejected third again over
the reject corpus, where it must be declined). A candidate sentence is a positive example when
it holds a gold answer (RGB) or a key fact (seeds). The weights come from an L2-regularised
logistic regression over the candidates' named features, refined by a coordinate search
(`qa.train.search`) with the threshold that maximises, weighed over the data sources, the mean
of answer accuracy and rejection. With `--distractors crud-news` the tuning items are asked again
over their corpora mixed into the crud-news articles (the indexes of `qa eval --rgb tune
--distractors crud-news`); the shipped policy is fitted without (it fitted worse with them).
Checking and test splits are never read.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from qa.answer.extractive import Candidate, most_sentences
from qa.answer.facts import normalise
from qa.answer.features import AGAINST, EVIDENCE, FEATURES
from qa.answer.policy import Policy, load_policy
from qa.answer.question import analyse
from qa.config import Settings
from qa.eval.evaluation import load_dataset
from qa.eval.rgb import RGBItem
from qa.eval.rgb_scale import Distractors, distractors_from
from qa.pipeline import QAPipeline
from qa.train.citation_fit import fit_citation_threshold
from qa.train.search import Case, Part, best_threshold, objective_at, outcomes, refine

_L2 = 1.0  # ridge penalty; 1.0 beat 0.1, 10 and 100 on the tuning objective


def instance(
    pipeline: QAPipeline,
    question: str,
    holds: Callable[[str], list[bool]],
    source: str,
    answer: bool,
) -> Case:
    """Retrieve for a question as `ask` does and label every eligible candidate with the gold
    parts it holds (`holds`; none when the question must be declined)."""
    analysis = analyse(question)
    hits, vector, per_part = pipeline.retrieve(analysis, k=pipeline.settings.top_k)
    parts = []
    for part, own in zip(analysis.parts or (analysis,), per_part or [(hits, vector)], strict=True):
        ranked: list[Candidate] = pipeline.answerer.candidates(part, *own)
        eligible = [c for c in ranked if not c.featured.ineligible]
        x = np.array([[c.featured.values[f] for f in FEATURES] for c in eligible], dtype=float)
        gold = len(holds(""))
        y = np.array([holds(c.text) if answer else [False] * gold for c in eligible], dtype=bool)
        most = most_sentences(part, not analysis.parts, pipeline.settings.answer_sentences)
        parts.append(
            Part(x.reshape(len(eligible), len(FEATURES)), y.reshape(len(eligible), gold), most)
        )
    return Case(source, answer, parts)


def seeds_pipeline(settings: Settings, cache: Path) -> QAPipeline:
    """A pipeline over the seed articles with its own index in the cache."""
    pipeline = QAPipeline(settings.model_copy(update={"index_dir": cache / "seeds-index"}))
    pipeline.ingest(str(settings.articles_dir))
    return pipeline


def seed_instances(pipeline: QAPipeline, dataset: Path) -> list[Case]:
    """The seeds' dev split over the seed articles."""
    out = []
    for item in load_dataset(dataset, "dev"):
        alternatives = [normalise(a) for fact in item.key_facts for a in fact]

        def holds(text: str, alts: list[str] = alternatives) -> list[bool]:
            return [any(a in normalise(text) for a in alts)]  # a key fact: key-fact recall

        out.append(instance(pipeline, item.question, holds, "seeds", item.should_answer))
    return out


def rgb_instances(
    settings: Settings,
    bench: Path,
    cache: Path,
    limit: int | None,
    distractors: Distractors | None = None,
    mixed_sets: Sequence[str] = (),
) -> list[Case]:
    """The tuning half of each RGB set, over its full and its reject corpus; for the sets in
    `mixed_sets`, again over the same corpora with the `distractors` mixed in (as `qa eval
    --rgb tune --distractors` indexes them), so that the policy is fitted on questions asked
    among many unrelated articles as well as among their passages alone."""
    from qa.eval.rgb import SETS, build_corpus, load_items
    from qa.eval.rgb_eval import pipeline_for
    from qa.eval.rgb_scale import leaking_articles, mixed_pipeline, with_vector_cache

    base = with_vector_cache(QAPipeline(settings), cache)
    out = []
    for name in SETS:
        items = [i for i in load_items(bench, name, limit=limit) if i.split == "tune"]
        mix = distractors if name in mixed_sets else None
        dropped = leaking_articles(mix.files(), items) if mix is not None else {}
        for variant in ("full", "reject"):
            corpus = build_corpus(bench, name, variant, cache, limit=limit)
            pipelines = [pipeline_for(base, corpus, corpus.parent / "index", print)]
            if mix is not None:
                pipelines.append(
                    mixed_pipeline(base, cache, name, variant, "tune", mix, dropped, print, limit)
                )
            for pipeline in pipelines:
                out += rgb_cases(pipeline, items, variant, f"rgb-{name}")
    return out


def rgb_cases(pipeline: QAPipeline, items: list[RGBItem], variant: str, source: str) -> list[Case]:
    """The items asked over one corpus: every item over the full one, the rejected ones over
    the reject one, where they must be declined."""
    from qa.eval.rgb import contains_answer

    out = []
    for item in items:
        if variant == "reject" and not item.rejected:
            continue

        def holds(text: str, answers: list[list[str]] = item.answers) -> list[bool]:
            return [contains_answer(text, [part]) for part in answers]

        out.append(instance(pipeline, item.query, holds, source, variant == "full"))
    return out


def fit_weights(instances: list[Case]) -> tuple[np.ndarray, float]:
    """L2-regularised logistic regression by Newton's method, each source weighing its share,
    each weight kept to its sign (`feature_signs`; projected after every step).

    Written out (20 lines of numpy) rather than taken from scikit-learn: the product needs
    only the weights, and the fit must weigh sources by `share`, which is a sample weight here.
    """
    rows, labels, weights = [], [], []
    signs = feature_signs()
    sources = sorted({i.source for i in instances})
    for source in sources:
        parts = [p for i in instances if i.source == source for p in i.parts if len(p.x)]
        xs, ys = [p.x for p in parts], [p.y.any(axis=1) for p in parts]
        if not xs:
            continue
        x, y = np.vstack(xs), np.concatenate(ys)
        rows.append(x)
        labels.append(y)
        weights.append(np.full(len(y), share(source, sources) / len(y)))
    x = np.hstack([np.vstack(rows), np.ones((sum(len(r) for r in rows), 1))])
    y = np.concatenate(labels)
    w = np.concatenate(weights) * len(y)  # mean weight 1, each source its share
    beta = np.zeros(x.shape[1])
    penalty = np.eye(x.shape[1]) * _L2 / len(y)
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(50):
        p = 1.0 / (1.0 + np.exp(-(x @ beta)))
        gradient = x.T @ (w * (p - y)) / len(y) + penalty @ beta
        hessian = (x * (w * p * (1 - p))[:, None]).T @ x / len(y) + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        beta[:-1] = np.where(beta[:-1] * signs < 0, 0.0, beta[:-1])  # keep the signs
        if float(np.abs(step).max()) < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def feature_signs() -> np.ndarray:
    """+1 for evidence features, -1 for features against, 0 for the rest (FEATURES order)."""
    return np.array([1.0 if f in EVIDENCE else -1.0 if f in AGAINST else 0.0 for f in FEATURES])


def share(source: str, sources: list[str]) -> float:
    """The weight of a data source: the seeds (the product's own kind of news) 0.6, RGB's sets
    sharing the other 0.4. Picked on the tuning outcomes: at 0.5 the seeds' dev split lost a
    third of its answers to declines for a few more RGB rejections."""
    rgb = [s for s in sources if s.startswith("rgb-")]
    if not rgb or len(rgb) == len(sources):
        return 1.0 / len(sources)
    return 0.6 if source == "seeds" else 0.4 / len(rgb)


def fit(instances: list[Case], described: dict[str, object]) -> Policy:
    """Weights by logistic regression, refined with the threshold on the decision objective
    (`qa.train.search`)."""
    coef, bias = fit_weights(instances)
    logistic, _ = best_threshold(instances, coef, bias, share)
    coef, bias, threshold, best = refine(instances, coef, bias, share, feature_signs())
    weights = dict(zip(FEATURES, (float(c) for c in coef), strict=True))
    return Policy(
        weights,
        bias,
        threshold,
        "fitted-" + dt.date.today().isoformat(),
        {
            **described,
            "tuning_outcomes": outcomes(instances, coef, bias, threshold),
            "objective": round(best, 4),
            "objective_of_the_logistic_fit_alone": round(logistic, 4),
        },
    )


def rescore(policy: Policy, instances: list[Case]) -> Policy:
    """The policy as it is, with its tuning outcomes measured again: for a fix to how a feature
    is computed, when a re-fit would move the policy somewhere worse for readers."""
    coef = np.array([policy.weights.get(f, 0.0) for f in FEATURES])
    objective = objective_at(instances, coef, policy.bias, policy.threshold, share)
    return replace(
        policy,
        fitted_on={
            **policy.fitted_on,
            "tuning_outcomes": outcomes(instances, coef, policy.bias, policy.threshold),
            "objective": round(objective, 4),
            "rescored": dt.date.today().isoformat(),
        },
    )


def main(argv: list[str] | None = None) -> None:
    """Collect the tuning data, fit, and write the policy file."""
    parser = argparse.ArgumentParser(
        prog="python -m qa.train.fit", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--benchmarks", type=Path, default=Path("../shared/benchmarks"))
    parser.add_argument("--dataset", type=Path, default=Path("evals/qa_pairs.jsonl"))
    parser.add_argument("--cache", type=Path, default=Path(".qa-cache"))
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("policy.json"))
    parser.add_argument("--rgb-limit", type=int, default=None, help="first N items per set")
    parser.add_argument(
        "--distractors",
        default="none",
        help="articles mixed into RGB's tuning corpora as well (crud-news or a folder; "
        "default none: RGB's passages alone, which fitted better)",
    )
    parser.add_argument(
        "--distractor-set",
        action="append",
        dest="distractor_sets",
        help="an RGB set asked with the distractors too (repeatable; default zh and en, the "
        "sets `qa eval --distractors` is judged on)",
    )
    parser.add_argument(
        "--rescore",
        action="store_true",
        help="keep the weights and thresholds of the policy in --out; measure its tuning "
        "outcomes again and rewrite them",
    )
    args = parser.parse_args(argv)
    settings = Settings(backend="extractive")
    seeds = seeds_pipeline(settings, args.cache)
    instances = seed_instances(seeds, args.dataset)
    if (args.benchmarks / "rgb").is_dir():
        distractors = None
        if args.distractors != "none":
            distractors = distractors_from(args.distractors, args.benchmarks, args.cache)
        mixed_sets = args.distractor_sets or ["zh", "en"]
        instances += rgb_instances(
            settings, args.benchmarks, args.cache, args.rgb_limit, distractors, mixed_sets
        )
    else:
        print(f"no RGB data at {args.benchmarks}: fitting on the seeds' dev split only")
    counts: dict[str, int] = {}
    for inst in instances:
        counts[inst.source] = counts.get(inst.source, 0) + 1
    if args.rescore:
        policy = rescore(load_policy(args.out), instances)
    else:
        policy = fit(
            instances,
            {
                "data": "seeds dev split + RGB tuning half (full and reject corpora)"
                + (
                    f", also with {args.distractors} mixed in" if args.distractors != "none" else ""
                ),
                "questions": counts,
                "embedding_model": settings.embedding_backend,
            },
        )
        # the LLM citation check's threshold, on scripted answers to the same dev questions
        dev = load_dataset(args.dataset, "dev")
        policy = replace(policy, citation_threshold=fit_citation_threshold(seeds, dev, policy))
    args.out.write_text(json.dumps(policy.to_json(), ensure_ascii=False, indent=1) + "\n", "utf-8")
    print(json.dumps(policy.to_json(), ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
