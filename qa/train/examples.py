"""Training examples for the reader from qa-train, public reading-comprehension questions.

    python -m qa.train.examples [--benchmarks ../shared/benchmarks] [--cache .qa-cache]

Each source's paragraphs become articles (one file per paragraph, its article's title as the
first line) in an index of their own, built and searched exactly as `ask` does. Every question
is retrieved for over its whole source, and each eligible candidate sentence is labelled with
whether it holds a gold answer: a Case, as the fit of the answer policy uses them.

Unanswerable questions: SQuAD 2.0's own (written to look answerable); for the other sources,
which have none, a question is asked again with every paragraph holding one of its answers
filtered out (as RGB builds its reject corpora), where it must be declined.

Held out, by source and by article: CMRC 2018 trial and XQuAD (Chinese), and the SQuAD 2.0
articles whose title hashes into the held-out fifth (English). In-domain cases come from the
seeds' dev split and RGB's tuning half (every item over its full corpus, the rejected third
again over its reject corpus); checking and test splits are never read. The cases are cached
per source as a pickle in the cache; nothing here is shipped.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.answer.extractive import Candidate, most_sentences
from qa.answer.facts import normalise
from qa.answer.features import FEATURES
from qa.answer.question import analyse
from qa.answer.retrieval import Filters
from qa.config import Settings
from qa.cross.scorer import shared as cross_scorer
from qa.errors import ConfigError
from qa.eval.evaluation import load_dataset
from qa.eval.rgb import RGBItem
from qa.pipeline import QAPipeline

# source file → split; SQuAD 2.0 is split by article title (`held_out`)
SOURCES = {
    "squad2-dev": "by-title",
    "cmrc2018-dev": "train",
    "drcd-dev": "train",
    "drcd-test": "train",
    "cmrc2018-trial": "valid",
    "xquad-zh": "valid",
}
DOMAIN = ("seeds-dev", "rgb-tune")  # in-domain cases, cached like a source
_NEGATIVE_SHARE = 0.4  # of a source without unanswerables: questions asked again without answer
_SEED = 20261204


@dataclass(frozen=True)
class Part:
    """One question part: its eligible candidates' features (FEATURES order), the gold parts
    each holds, and how many sentences may answer it."""

    x: np.ndarray  # n × f
    y: np.ndarray  # n × g, bool
    most: int
    cross: np.ndarray | None = None  # n: the cross-encoder's probability of each candidate


@dataclass(frozen=True)
class Case:
    """One question over one corpus: where it comes from, whether it can be answered there,
    its parts, and its language (each language has an operating point of its own)."""

    source: str
    should_answer: bool
    parts: Sequence[Part]
    lang: str


def instance(
    pipeline: QAPipeline,
    question: str,
    holds: Callable[[str], list[bool]],
    source: str,
    answer: bool,
    filters: Filters | None = None,
) -> Case:
    """Retrieve for a question as `ask` does (within `filters`) and label every eligible
    candidate with the gold parts it holds (`holds`; none when the question must be declined)."""
    analysis = analyse(question)
    hits, vector, per_part = pipeline.retrieve(
        analysis, k=pipeline.settings.top_k, filters=filters
    )
    parts = []
    for part, own in zip(analysis.parts or (analysis,), per_part or [(hits, vector)], strict=True):
        ranked: list[Candidate] = pipeline.answerer.candidates(part, *own)
        eligible = [c for c in ranked if not c.featured.ineligible]
        x = np.array([[c.featured.values[f] for f in FEATURES] for c in eligible], dtype=float)
        gold = len(holds(""))
        y = np.array([holds(c.text) if answer else [False] * gold for c in eligible], dtype=bool)
        most = most_sentences(part, not analysis.parts, pipeline.settings.answer_sentences)
        cross = _reads(pipeline, part.text, eligible)
        parts.append(
            Part(
                x.reshape(len(eligible), len(FEATURES)), y.reshape(len(eligible), gold), most, cross
            )
        )
    return Case(source, answer, parts, analysis.lang)


def seeds_pipeline(settings: Settings, cache: Path) -> QAPipeline:
    """A pipeline over the seed articles with an index of its own in the cache, up to date."""
    pipeline = QAPipeline(settings.model_copy(update={"index_dir": cache / "seeds-index"}))
    pipeline.ingest(str(settings.articles_dir))
    return pipeline


def gold_of(answers: Iterable[str]) -> tuple[str, ...]:
    """The answers as matched in text: normalised, without empty ones."""
    return tuple(a for a in (normalise(x) for x in answers) if a)


def holding(gold: tuple[str, ...]) -> Callable[[str], list[bool]]:
    """Whether a text holds one of the `gold` answers (`gold_of`), the one gold part of a
    question."""

    def holds(text: str) -> list[bool]:
        flat = normalise(text)
        return [any(a in flat for a in gold)]

    return holds


def seed_cases(settings: Settings, dataset: Path, cache: Path) -> list[Case]:
    """The seeds' dev split over the seed articles (a key fact held: key-fact recall)."""
    pipeline = seeds_pipeline(settings, cache)
    return [
        instance(
            pipeline,
            item.question,
            holding(gold_of(a for fact in item.key_facts for a in fact)),
            "seeds",
            item.should_answer,
        )
        for item in load_dataset(dataset, "dev")
    ]


def rgb_cases(settings: Settings, bench: Path, cache: Path) -> list[Case]:
    """The tuning half of each RGB set, over its full corpus and its reject corpus."""
    from qa.eval.rgb import SETS, build_corpus, contains_answer, load_items
    from qa.eval.rgb_eval import pipeline_for
    from qa.eval.rgb_scale import with_vector_cache

    base = with_vector_cache(QAPipeline(settings), cache)
    out = []
    for name in SETS:
        items: list[RGBItem] = [i for i in load_items(bench, name) if i.split == "tune"]
        for variant in ("full", "reject"):
            corpus = build_corpus(bench, name, variant, cache)
            pipeline = pipeline_for(base, corpus, corpus.parent / "index", print)
            for item in items:
                if variant == "reject" and not item.rejected:
                    continue

                def holds(text: str, answers: list[list[str]] = item.answers) -> list[bool]:
                    return [contains_answer(text, [part]) for part in answers]

                out.append(instance(pipeline, item.query, holds, f"rgb-{name}", variant == "full"))
    return out


@dataclass(frozen=True)
class Question:
    """One qa-train question: its source, text, gold answers and the paragraph file it is on."""

    source: str
    id: str
    title: str
    text: str
    answers: tuple[str, ...]
    paragraph: str  # the article file name of its paragraph


def held_out(title: str) -> bool:
    """Whether a SQuAD article is in the held-out fifth (by a hash of its title: stable)."""
    return hashlib.sha256(title.encode("utf-8")).digest()[0] % 5 == 0


def split_of(question: Question) -> str:
    """'train' or 'valid' for a question, by its source (and, for SQuAD, its article)."""
    rule = SOURCES[question.source]
    if rule == "by-title":
        return "valid" if held_out(question.title) else "train"
    return rule


def read_source(bench: Path, name: str, folder: Path) -> list[Question]:
    """The questions of one qa-train file; its paragraphs written as article files to `folder`."""
    path = bench / "qa-train" / f"{name}.jsonl"
    if not path.exists():
        raise ConfigError(f"no {path}: point --benchmarks at the folder holding qa-train/")
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[tuple[str, str], str] = {}
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        title = row["title"].replace("_", " ").strip()
        key = (title, row["context"])
        if key not in files:
            files[key] = f"{len(files):05d}.txt"
            text = f"{title}\n\n{row['context']}\n" if title else f"{row['context']}\n"
            target = folder / files[key]
            if not target.exists() or target.read_text(encoding="utf-8") != text:
                target.write_text(text, encoding="utf-8")
        question = row["question"].strip()
        out.append(Question(name, row["id"], title, question, tuple(row["answers"]), files[key]))
    return out


def cases_of(
    pipeline: QAPipeline, questions: list[Question], texts: dict[str, str], rng: random.Random
) -> Iterator[Case]:
    """Each question as a Case over the whole source; answerable ones of a source without
    unanswerables again over the source without the paragraphs holding their answer."""
    everything = frozenset(texts)
    own_negatives = any(not q.answers for q in questions)
    for question in questions:
        gold = gold_of(question.answers)
        holds = holding(gold)
        source = f"{question.source}:{split_of(question)}"
        yield instance(pipeline, question.text, holds, source, bool(gold))
        if gold and not own_negatives and rng.random() < _NEGATIVE_SHARE:
            # `texts` are normalised already, as `gold` is
            kept = frozenset(n for n in everything if not any(a in texts[n] for a in gold))
            yield instance(pipeline, question.text, holds, source, False, Filters(kept))


def _reads(pipeline: QAPipeline, question: str, eligible: list[Candidate]) -> np.ndarray:
    """The cross-encoder's probability of the trees' best `cross_candidates` eligible
    candidates, as the answerer's cascade reads them (`qa.answer.scoring`), whatever the
    pipeline's policy; nan for the others. `python -m qa.train.blend` fits on these."""
    out = np.full(len(eligible), np.nan)
    if not eligible:
        return out
    trees = pipeline.answerer.policy.scores([c.featured.values for c in eligible])
    best = np.argsort(-trees, kind="stable")[: pipeline.settings.cross_candidates]
    out[best] = cross_scorer().scores(question, [eligible[i].text for i in best])
    return out


def build(bench: Path, cache: Path, name: str, limit: int | None, dataset: Path) -> Path:
    """The cases of one source, cached in cache/train/NAME.pkl (built once)."""
    out = cache / "train" / f"{name}.pkl"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    if name in DOMAIN:
        settings = Settings(backend="extractive")
        domain = (
            seed_cases(settings, dataset, cache)
            if name == "seeds-dev"
            else rgb_cases(settings, bench, cache)
        )
        out.write_bytes(pickle.dumps(domain))
        return out
    folder = cache / "train" / name / "articles"
    questions = read_source(bench, name, folder)
    if limit:
        questions = random.Random(_SEED).sample(questions, min(limit, len(questions)))
    settings = Settings(backend="extractive", index_dir=cache / "train" / name / "index")
    pipeline = QAPipeline(settings)
    started = time.perf_counter()
    report = pipeline.ingest(str(folder))
    took = time.perf_counter() - started
    print(f"{name}: {len(report.added)} new paragraphs indexed in {took:.0f} s")
    texts = {p.name: normalise(p.read_text(encoding="utf-8")) for p in folder.glob("*.txt")}
    rng = random.Random(_SEED)
    started = time.perf_counter()
    cases = list(cases_of(pipeline, questions, texts, rng))
    print(f"{name}: {len(cases)} cases in {time.perf_counter() - started:.0f} s")
    out.write_bytes(pickle.dumps(cases))
    return out


def load_cases(cache: Path) -> list[Case]:
    """Every cached case of every source (build them first)."""
    out: list[Case] = []
    for name in (*SOURCES, *DOMAIN):
        path = cache / "train" / f"{name}.pkl"
        if not path.exists():
            raise ConfigError(f"no {path}: run `python -m qa.train.examples` first")
        out += pickle.loads(path.read_bytes())
    return out


def main(argv: list[str] | None = None) -> None:
    """Build and cache the cases of every qa-train source."""
    parser = argparse.ArgumentParser(
        prog="python -m qa.train.examples", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--benchmarks", type=Path, default=Path("../shared/benchmarks"))
    parser.add_argument("--cache", type=Path, default=Path(".qa-cache"))
    parser.add_argument("--limit", type=int, default=None, help="questions per source (sampled)")
    parser.add_argument("--dataset", type=Path, default=Path("evals/qa_pairs.jsonl"))
    parser.add_argument("--source", action="append", choices=[*SOURCES, *DOMAIN])
    args = parser.parse_args(argv)
    for name in args.source or (*SOURCES, *DOMAIN):
        print(build(args.benchmarks, args.cache, name, args.limit, args.dataset))


if __name__ == "__main__":
    # through the module's own name, so that the cached cases pickle as qa.train.examples.Case
    from qa.train import examples

    examples.main()
