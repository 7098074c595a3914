"""(question, sentence, label) pairs for the cross-encoder, from public reading-comprehension data.

A pair is labelled 1 when the sentence holds a gold answer of the question, 0 when it does not.
Per answerable question: its answer sentence, a sentence of the same paragraph that holds no
answer (on topic, the hard case) and a sentence of another paragraph of the same article. An
unanswerable SQuAD 2.0 question gives two sentences of its paragraph, all labelled 0 (written to
look answerable). Cross-language pairs put an XQuAD Chinese question over the English SQuAD
paragraph with the same id. RGB's tuning half gives a sentence of a positive passage that holds
the answer and two sentences of its negative passages.

Splits follow the reader's (`qa.train.examples`): SQuAD by article title (a held-out fifth),
CMRC 2018 trial and XQuAD's held-out titles validate, the rest trains; RGB's checking half and
the seeds are never read.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from qa.answer.facts import normalise
from qa.eval.rgb import SETS, normalise_answers, split_of
from qa.text import split_sentences
from qa.train.examples import held_out

TRAIN_SOURCES = ("squad2-dev", "squad1-dev", "cmrc2018-dev", "drcd-dev", "drcd-test")
VALID_SOURCES = ("cmrc2018-trial",)
_SEED = 20261207


@dataclass(frozen=True)
class Pair:
    """One labelled (question, sentence) pair and where it came from."""

    question: str
    sentence: str
    label: int
    source: str
    group: str  # the question's id: pairs of one question are scored together in validation


@dataclass(frozen=True)
class _Row:
    id: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    starts: tuple[int, ...]


def _rows(bench: Path, name: str) -> list[_Row]:
    path = bench / "qa-train" / f"{name}.jsonl"
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        out.append(
            _Row(
                r["id"],
                r["title"].replace("_", " ").strip(),
                r["context"],
                r["question"].strip(),
                tuple(r["answers"]),
                tuple(r["answer_starts"]),
            )
        )
    return out


def sentences(context: str) -> list[tuple[int, int, str]]:
    """The sentences of a paragraph with their spans."""
    return [(s, e, context[s:e]) for s, e in split_sentences(context)]


def _holds(text: str, answers: tuple[str, ...]) -> bool:
    flat = normalise(text)
    return any(a and normalise(a) in flat for a in answers)


def _question_pairs(
    row: _Row, source: str, others: list[str], rng: random.Random, question: str | None = None
) -> Iterator[Pair]:
    """The pairs of one question over its paragraph (`others`: the article's other paragraphs)."""
    q = question or row.question
    sents = sentences(row.context)
    if not row.answers:
        for _, _, text in rng.sample(sents, min(2, len(sents))):
            yield Pair(q, text, 0, source, row.id)
        return
    gold = [t for s, e, t in sents if any(s <= a < e for a in row.starts)]
    if not gold:
        return
    yield Pair(q, gold[0], 1, source, row.id)
    free = [t for _, _, t in sents if not _holds(t, row.answers)]
    if free:
        yield Pair(q, rng.choice(free), 0, source, row.id)
    far = [t for p in others for _, _, t in sentences(p) if not _holds(t, row.answers)]
    if far:
        yield Pair(q, rng.choice(far), 0, source, row.id)


def _source_pairs(rows: list[_Row], source: str, split: str, rng: random.Random) -> Iterator[Pair]:
    by_title: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.context not in by_title[r.title]:
            by_title[r.title].append(r.context)
    for r in rows:
        if _split(source, r.title) == split:
            others = [c for c in by_title[r.title] if c != r.context]
            yield from _question_pairs(r, source, others, rng)


def _split(source: str, title: str) -> str:
    if source.startswith("squad") or source.startswith("xquad"):
        return "valid" if held_out(title) else "train"
    return "valid" if source in VALID_SOURCES else "train"


def _xquad_pairs(bench: Path, split: str, rng: random.Random, cross: bool) -> Iterator[Pair]:
    """XQuAD's Chinese questions: over their own Chinese paragraph, or (`cross`) the English
    SQuAD 1.1 paragraph with the same id."""
    english = {r.id: r for r in _rows(bench, "squad1-dev")}
    source = "xquad-zh-en" if cross else "xquad-zh"
    for zh in _rows(bench, "xquad-zh"):
        en = english.get(zh.id)
        if en is None or _split("xquad", en.title) != split:
            continue
        row = en if cross else zh
        yield from _question_pairs(row, source, [], rng, question=zh.question)


def _rgb_pairs(bench: Path, rng: random.Random) -> Iterator[Pair]:
    """RGB's tuning half: an answer-holding sentence of a positive passage, and two sentences
    of its negative passages."""
    for name, stem in SETS.items():
        path = bench / "rgb" / f"{stem}.dev.jsonl"
        for line in path.read_text(encoding="utf-8").splitlines():
            r = json.loads(line)
            if split_of(int(r["id"])) != "tune":
                continue
            parts = normalise_answers(r["answer"], name)
            alts = tuple(a for part in parts for a in part)
            positives = [
                p
                for group in r["positive"]
                for p in (group if isinstance(group, list) else [group])
            ]
            holding = [t for p in positives for _, _, t in sentences(p) if _holds(t, alts)]
            group = f"rgb-{name}-{r['id']}"
            if holding:
                yield Pair(r["query"], rng.choice(holding), 1, f"rgb-{name}", group)
            negatives = [
                t for p in r["negative"] for _, _, t in sentences(p) if not _holds(t, alts)
            ]
            for text in rng.sample(negatives, min(2, len(negatives))):
                yield Pair(r["query"], text, 0, f"rgb-{name}", group)


def build(bench: Path, split: str) -> list[Pair]:
    """Every pair of one split ('train' or 'valid'), deduplicated by question id, shuffled
    with a fixed seed."""
    rng = random.Random(_SEED)
    out: list[Pair] = []
    seen: set[str] = set()
    for name in (*TRAIN_SOURCES, *VALID_SOURCES):
        fresh = [r for r in _rows(bench, name) if r.id not in seen]
        seen.update(r.id for r in fresh)
        out.extend(_source_pairs(fresh, name, split, rng))
    out.extend(_xquad_pairs(bench, split, rng, cross=True))
    if split == "valid":
        out.extend(_xquad_pairs(bench, split, rng, cross=False))
    else:
        out.extend(_rgb_pairs(bench, rng))
    rng.shuffle(out)
    return out


def squad_paragraphs(bench: Path) -> Iterator[tuple[str, list[str], bool]]:
    """SQuAD 2.0's held-out questions: (question, every sentence of its paragraph, answerable)."""
    for r in _rows(bench, "squad2-dev"):
        if held_out(r.title):
            yield r.question, [t for _, _, t in sentences(r.context)], bool(r.answers)
