"""The public RGB benchmark as data: its questions as RGBItems, its passages as article folders.

RGB (Chen, Lin, Han, Sun, AAAI 2024; CC BY-NC-SA 4.0) is read from `<bench_dir>/rgb/`, never
copied into the project. Three files, three shapes of `answer`, normalised here to one: a list
of parts, each a list of acceptable alternatives. Which half an item belongs to and whether its
answer passages are taken out of the reject corpus are decided by its `id` alone (see
`split_of` and `is_rejected`), so every run and every machine draws the same items.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from qa.errors import ConfigError

Split = Literal["tune", "check"]
Variant = Literal["full", "reject"]
SETS = {"en": "en_fact", "zh": "zh_refine", "zh_int": "zh_int"}  # set name -> file stem


@dataclass(frozen=True)
class RGBItem:
    """One RGB question; `answers` holds one list of acceptable alternatives per part asked."""

    set: str
    id: int
    query: str
    answers: list[list[str]]
    split: Split
    rejected: bool
    lang: str


def split_of(item_id: int) -> Split:
    """`tune` when `(id // 2) % 2 == 0`, else `check` (RGB's dev ids are even: 0, 4, 8… tune)."""
    return "tune" if (item_id // 2) % 2 == 0 else "check"


def is_rejected(item_id: int) -> bool:
    """Whether `(id // 2) % 3 == 0`: a third of the items, in both halves, must be declined
    over the reject corpus (ids 0, 12, 24… are tuning ones, 6, 18, 30… checking ones)."""
    return (item_id // 2) % 3 == 0


def normalise_answers(answer: Any, set_name: str) -> list[list[str]]:
    """RGB's `answer` field as parts of alternatives.

    en/zh: a string is one part with one alternative, a list of strings one part with those
    alternatives, a list of lists one part per inner list. zh_int: one entry per part, each a
    string or a list of alternatives.
    """
    if isinstance(answer, str):
        return [[answer]]
    if not isinstance(answer, list) or not answer:
        raise ConfigError(f"RGB {set_name} answer {answer!r} is neither text nor a list")
    if set_name == "zh_int" or all(isinstance(a, list) for a in answer):
        return [[part] if isinstance(part, str) else [str(a) for a in part] for part in answer]
    return [[str(a) for a in answer]]


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def contains_answer(text: str, answers: list[list[str]]) -> bool:
    """RGB scoring: every part has an alternative in the text (NFKC, case-folded)."""
    folded = _fold(text)
    return bool(answers) and all(any(_fold(alt) in folded for alt in part) for part in answers)


def mentions_any_part(text: str, answers: list[list[str]]) -> bool:
    """Whether any alternative of any part is in the text (such a passage gives the answer away)."""
    folded = _fold(text)
    return any(_fold(alt) in folded for part in answers for alt in part)


def _records(bench_dir: Path, set_name: str, limit: int | None) -> list[dict[str, Any]]:
    if set_name not in SETS:
        raise ConfigError(f"unknown RGB set {set_name!r}: use one of {', '.join(SETS)}")
    folder = bench_dir / "rgb"
    if not folder.is_dir():
        raise ConfigError(
            f"no RGB data at {folder}: pass --benchmarks with the folder holding rgb/"
        )
    path = folder / f"{SETS[set_name]}.dev.jsonl"
    if not path.is_file():
        raise ConfigError(f"no RGB file at {path}: the {set_name} set needs {path.name} in rgb/")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ConfigError(
                    f"{path}:{number} is not JSON ({exc}): restore the file"
                ) from None
    return records[:limit] if limit is not None else records


def load_items(bench_dir: Path, set_name: str, *, limit: int | None = None) -> list[RGBItem]:
    """Every question of one set (`en`, `zh`, `zh_int`), or its first `limit` questions."""
    return [
        RGBItem(
            set=set_name,
            id=int(r["id"]),
            query=str(r["query"]),
            answers=normalise_answers(r["answer"], set_name),
            split=split_of(int(r["id"])),
            rejected=is_rejected(int(r["id"])),
            lang="en" if set_name == "en" else "zh",
        )
        for r in _records(bench_dir, set_name, limit)
    ]


def _passages(record: dict[str, Any]) -> Iterable[str]:
    """The passages of one question (zh_int groups its positives by part: flattened)."""
    for key in ("positive", "negative"):
        for entry in record.get(key, []):
            yield from ([entry] if isinstance(entry, str) else entry)


def corpus_passages(
    bench_dir: Path, set_name: str, variant: Variant, *, limit: int | None = None
) -> list[str]:
    """The distinct passages of a set, first-seen order; `reject` drops every passage that
    mentions any part of a rejected item's answer."""
    records = _records(bench_dir, set_name, limit)
    passages = list(dict.fromkeys(p for r in records for p in _passages(r) if p.strip()))
    if variant == "full":
        return passages
    gold = [a for a in load_items(bench_dir, set_name, limit=limit) if a.rejected]
    return [p for p in passages if not any(mentions_any_part(p, g.answers) for g in gold)]


def item_passages(
    bench_dir: Path, set_name: str, *, limit: int | None = None
) -> dict[int, list[str]]:
    """Each question's own passages (positive, then negative), by item id."""
    return {
        int(r["id"]): [p for p in dict.fromkeys(_passages(r)) if p.strip()]
        for r in _records(bench_dir, set_name, limit)
    }


def article_name(set_name: str, passage: str) -> str:
    """`rgb-<set>-<sha1 of the passage, 12 hex>.txt`."""
    return f"rgb-{set_name}-{hashlib.sha1(passage.encode('utf-8')).hexdigest()[:12]}.txt"


def article_text(set_name: str, passage: str) -> str:
    """A passage as an article file: a neutral title line, a blank line, the passage.

    The title holds no digits (the hash is in the file name only): gold answers such as
    "16" or "90" must not be found in a title instead of the passage.
    """
    return f"RGB {set_name} passage\n\n{passage.strip()}\n"


def corpus_dir(cache_dir: Path, set_name: str, variant: Variant, limit: int | None = None) -> Path:
    """`<cache_dir>/rgb/<set>-<variant>[-first<N>]` (a limited corpus never churns the full one)."""
    suffix = f"-first{limit}" if limit is not None else ""
    return cache_dir / "rgb" / f"{set_name}-{variant}{suffix}"


def build_corpus(
    bench_dir: Path,
    set_name: str,
    variant: Variant,
    cache_dir: Path,
    *,
    limit: int | None = None,
) -> Path:
    """Write one article per distinct passage into `corpus_dir(...)/articles` and return it.

    Unchanged files are left alone (so the index is reused) and stale ones deleted. The reject
    variant is checked: no article left may mention a rejected item's answer.
    """
    folder = corpus_dir(cache_dir, set_name, variant, limit) / "articles"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {
        article_name(set_name, p): article_text(set_name, p)
        for p in corpus_passages(bench_dir, set_name, variant, limit=limit)
    }
    if variant == "reject":
        rejected = [i for i in load_items(bench_dir, set_name, limit=limit) if i.rejected]
        for name, text in wanted.items():
            leaks = [i.id for i in rejected if mentions_any_part(text, i.answers)]
            if leaks:
                raise ConfigError(
                    f"{name} would stay in the RGB {set_name} reject corpus although it holds "
                    f"the answer of rejected item(s) {leaks}: check that {bench_dir / 'rgb'} "
                    "holds RGB's unchanged files"
                )
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in wanted:
            stale.unlink()
    for name, text in wanted.items():
        path = folder / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return folder
