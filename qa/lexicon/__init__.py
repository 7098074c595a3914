"""Generic vocabulary as data: question cue patterns, number words, months, non-names.

Nothing here names anything from the articles; `cues.toml` holds the words a question or a
sentence uses to ask for or state a kind of thing, in English and Chinese.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from qa.text import STOPWORDS

KINDS = ("date", "number", "person", "place", "definition", "list", "yesno")


@dataclass(frozen=True)
class Lexicon:
    """The compiled contents of cues.toml."""

    asks: dict[str, dict[str, re.Pattern[str]]]  # lang -> kind -> question cue
    states: dict[str, re.Pattern[str]]  # kind -> what a sentence that answers it holds
    qualifiers: dict[str, re.Pattern[str]]  # lang -> superlatives and "only", "first"
    parts: dict[str, re.Pattern[str]]  # lang -> a join between two questions in one
    units: dict[str, list[tuple[re.Pattern[str], str]]]  # lang -> (question cue, unit pattern)
    number_words: dict[str, float]
    months: dict[str, int]
    not_names: frozenset[str]
    items_head: re.Pattern[str]  # the head noun of an English list question
    items_stop: frozenset[str]  # words that end an English item on its left
    items_stop_zh: frozenset[str]  # characters that end a Chinese item on its left


@lru_cache(maxsize=1)
def lexicon() -> Lexicon:
    """The lexicon, read once from the package's data file."""
    raw = tomllib.loads(resources.files(__package__).joinpath("cues.toml").read_text("utf-8"))

    def compiled(table: dict[str, str]) -> dict[str, re.Pattern[str]]:
        return {k: re.compile(v, re.IGNORECASE) for k, v in table.items()}

    return Lexicon(
        asks={lang: compiled(table) for lang, table in raw["asks"].items()},
        states=compiled(raw["states"]),
        qualifiers=compiled(raw["qualifiers"]),
        parts=compiled(raw["parts"]),
        units={
            lang: [(re.compile(cue, re.IGNORECASE), unit) for cue, unit in table.items()]
            for lang, table in raw["units"].items()
        },
        number_words={k: float(v) for k, v in raw["number_words"].items()},
        months={k: int(v) for k, v in raw["months"].items()},
        not_names=frozenset(w.lower() for w in raw["not_names"]["words"]),
        items_head=re.compile(raw["items"]["head"], re.IGNORECASE),
        items_stop=frozenset(raw["items"]["stop_en"]) | STOPWORDS,
        items_stop_zh=frozenset(raw["items"]["stop_zh"]),
    )
