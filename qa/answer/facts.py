"""The checkable facts a text states: quantities, years, dates, and names (EN and ZH).

One extractor serves the question analysis (a question's constraints), the features of a
candidate sentence (does it hold a number, a date, a name?) and the LLM citation check (is every
figure, date and name of a claim in the sentence it cites?). Quantities are compared by value,
so "7" matches "seven" and "2,500万" matches "25 million"; years match across languages.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property, lru_cache

from qa.lexicon import lexicon
from qa.text import has_cjk, jieba

# A figure: digits not glued to Latin letters ("Q2", "5G" and "H1" are labels, not quantities).
_FIGURE = re.compile(
    r"(?<![A-Za-z\d.,])(\d{1,3}(?:,\d{3})+|\d+)(\.\d+)?\s*"
    r"(%|percent\b|per cent\b|万亿|万|亿|千|百|trillion\b|billion\b|million\b|thousand\b|"
    r"bn\b|mn\b|m\b|k\b)?(?![A-Za-z\d])"
)
# after a comma too ("宣布，2022年": NFKC makes "，" a ","), but not after a digit and a comma
_YEAR = re.compile(r"(?<![\d.A-Za-z])(?<!\d,)((?:19|20)\d\d)(?:\s*年|(?!\d|[.,]\d|\s*%))")
_MONTH_DAY_ZH = re.compile(r"(?<!\d)(\d{1,2})\s*月(?:\s*(\d{1,2})\s*[日号])?")
_ISO = re.compile(r"(?<!\d)((?:19|20)\d\d)[-/.](\d{1,2})[-/.](\d{1,2})(?!\d)")
_MONTH_WORD = re.compile(
    r"(?:\b(in|since|by|until|from|of|early|late|mid|last|next|this|and|or|to)\s+)?"
    r"\b([A-Z][a-z]{2,8})\.?(?:\s+(\d{1,2})(?:st|nd|rd|th)?\b)?"
)
_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7}
_ZH_DIGITS.update({"八": 8, "九": 9})
_ZH_UNITS = {"十": 10, "百": 100, "千": 1000}
_ZH_NUMERAL = re.compile(r"[零一二两三四五六七八九十百千]+(?:万|亿)?")
_TITLED = re.compile(r"《([^》]{1,30})》")
_NAME_EN = re.compile(r"\b[A-Z][a-zA-Z'’-]+(?:\s+(?:[A-Z][a-zA-Z'’-]+|of|de|van|von|la))*")
_SCALE = {
    "%": 1.0,
    "percent": 1.0,
    "per cent": 1.0,
    "万亿": 1e12,
    "万": 1e4,
    "亿": 1e8,
    "千": 1e3,
    "百": 1e2,
    "trillion": 1e12,
    "billion": 1e9,
    "bn": 1e9,
    "million": 1e6,
    "mn": 1e6,
    "m": 1e6,
    "thousand": 1e3,
    "k": 1e3,
}


@dataclass(frozen=True)
class Facts:
    """What a text states that a reader can check: values, years, month-days and names.

    Names are found only when asked for: tagging Chinese text is most of the cost of a
    sentence's facts, and most questions never look at names."""

    quantities: frozenset[float]  # numeric values, years excluded, scale words applied
    years: frozenset[int]
    days: frozenset[tuple[int, int]]  # (month, day); day 0 when only the month is given
    texts: tuple[str, ...]  # the (NFKC) texts whose names these are

    @cached_property
    def names(self) -> frozenset[str]:
        """Proper names as written, case-folded (EN capitals, ZH nr/nt/nz)."""
        return frozenset().union(*(_names(text)[0] for text in self.texts))

    @cached_property
    def places(self) -> frozenset[str]:
        """Place names (ZH ns)."""
        return frozenset().union(*(_names(text)[1] for text in self.texts))

    @property
    def any_date(self) -> bool:
        """Whether the text states a year, a month or a day."""
        return bool(self.years or self.days)


def normalise(text: str) -> str:
    """NFKC and case folding: the form facts and answers are compared in."""
    return unicodedata.normalize("NFKC", text).casefold()


@lru_cache(maxsize=20_000)
def facts(text: str) -> Facts:
    """The facts stated in `text` (cached: sentences recur across questions)."""
    flat = unicodedata.normalize("NFKC", text)
    years = {int(m.group(1)) for m in _YEAR.finditer(flat)}
    days = {(int(m.group(2)), int(m.group(3))) for m in _ISO.finditer(flat)}
    years |= {int(m.group(1)) for m in _ISO.finditer(flat)}
    for m in _MONTH_DAY_ZH.finditer(flat):
        days.add((int(m.group(1)), int(m.group(2) or 0)))
    for month, day in _english_days(flat):
        days.add((month, day))
    return Facts(
        quantities=frozenset(_quantities(flat, years)),
        years=frozenset(years),
        days=frozenset(d for d in days if 1 <= d[0] <= 12),
        texts=(flat,),
    )


def _quantities(text: str, years: set[int]) -> set[float]:
    found: set[float] = set()
    for m in _FIGURE.finditer(text):
        whole = m.group(1).replace(",", "")
        value = float(whole + (m.group(2) or ""))
        scale = (m.group(3) or "").lower()
        if not scale and value in years and len(whole) == 4:
            continue  # a bare year is a date, not a quantity
        if _is_day_or_month(text, m.end()):
            continue
        found.add(_round(value * (_SCALE.get(scale, 1.0) if scale not in ("%", "percent") else 1)))
    words = lexicon().number_words
    found |= {words[w.lower()] for w in re.findall(r"[A-Za-z]+", text) if w.lower() in words}
    for m in _ZH_NUMERAL.finditer(text):
        numeral = _zh_value(m.group())
        if numeral is not None and not _is_day_or_month(text, m.end()):
            found.add(_round(numeral))
    return found


def _is_day_or_month(text: str, end: int) -> bool:
    """'5月' and '22日' are dates, not quantities."""
    return text[end : end + 1] in ("月", "日", "号")


def _round(value: float) -> float:
    return float(f"{value:.6g}")


def _zh_value(numeral: str) -> float | None:
    """The value of a Chinese numeral such as 七, 二十三, 三千, 五万 (None for a lone unit)."""
    scale = 1.0
    if numeral.endswith("亿"):
        numeral, scale = numeral[:-1], 1e8
    elif numeral.endswith("万"):
        numeral, scale = numeral[:-1], 1e4
    if not numeral or all(ch in _ZH_UNITS for ch in numeral):
        return None
    total, digit = 0, 0
    for ch in numeral:
        if ch in _ZH_DIGITS:
            digit = _ZH_DIGITS[ch]
        else:
            total += (digit or 1) * _ZH_UNITS[ch]
            digit = 0
    return (total + digit) * scale


def _english_days(text: str) -> list[tuple[int, int]]:
    """Month names with a day ("Feb 7", "May 22nd"), or before a year or after "in"/"since"
    ("March 2023", "in June"); a bare "Jun" or "May" is a name or a verb, not a date."""
    months = lexicon().months
    out = []
    for m in _MONTH_WORD.finditer(text):
        month = months.get(m.group(2).lower())
        dated = m.group(3) is not None or text[m.end() :].lstrip(", ")[:2] in ("19", "20")
        if month and (dated or m.group(1)):
            out.append((month, int(m.group(3)) if m.group(3) else 0))
    return out


@lru_cache(maxsize=20_000)
def _names(text: str) -> tuple[frozenset[str], frozenset[str]]:
    """Proper names: capitalised Latin runs (not sentence-initial words alone) and the
    person, place and organisation words jieba's tagger finds in Chinese."""
    names: set[str] = set()
    places: set[str] = set()
    skip = lexicon().not_names
    for m in _NAME_EN.finditer(text):
        name = m.group().strip()
        words = name.split()
        starts_sentence = m.start() == 0 or text[: m.start()].rstrip()[-1:] in '.!?。！？"“:'
        if len(words) == 1 and (starts_sentence or name.lower() in skip):
            continue
        if name.lower() in skip:
            continue
        names.add(name.casefold())
    names |= {m.group(1).casefold() for m in _TITLED.finditer(text)}  # 《a work's title》
    if has_cjk(text):
        for word, flag in _tagged(text):
            if flag in ("nr", "nrt", "nrfg", "nt", "nz") and len(word) >= 2:
                names.add(word)
            elif flag == "ns" and len(word) >= 2:
                places.add(word)
    return frozenset(names), frozenset(places)


@lru_cache(maxsize=20_000)
def _tagged(text: str) -> tuple[tuple[str, str], ...]:
    jieba()  # imported, its log quieted once
    import jieba.posseg as posseg

    return tuple((p.word, p.flag) for p in posseg.lcut(text))


@lru_cache(maxsize=20_000)
def flat(text: str) -> str:
    """`normalise`d with every space taken out: the form a name is looked for in, whatever
    its case and spacing (cached: titles and sentences recur across candidates)."""
    return re.sub(r"\s+", "", normalise(text))


_UNIT_REACH_EN = 24  # characters after a figure its unit may come in: "70 high-tech firms"
_UNIT_REACH_ZH = 3  # "3.71万人", "2万多人", "500余名"
_ANY_FIGURE = re.compile(r"\d[\d,.]*|[零一二两三四五六七八九十百千万亿]+")


def figure_with_unit(text: str, unit: str) -> bool:
    """Whether a figure in `text` comes with the unit asked for ("70 enterprises", "12人",
    "$10.4 billion"): the unit pattern within a few characters around the figure. A Chinese
    unit follows its figure at once ("3.71万人", "500余名"), so it is looked for in the next
    few characters only: a 名 further on is more likely 报名 than a head count."""
    return next(_figures_with_unit(text, unit), None) is not None


def figures_with_unit(text: str, unit: str) -> list[str]:
    """Each figure in `text` that comes with the unit asked for, as written with it
    ("70 enterprises", "3.71万人"; see `figure_with_unit`)."""
    return list(_figures_with_unit(text, unit))


def _figures_with_unit(text: str, unit: str) -> Iterator[str]:
    """The figures with the asked unit, one at a time: whether there is one stops at the first
    (a feature of every candidate sentence)."""
    pattern = _unit_pattern(unit)
    reach = _UNIT_REACH_ZH if has_cjk(text) else _UNIT_REACH_EN
    for m in _ANY_FIGURE.finditer(text):
        start = max(0, m.start() - 2)
        found = pattern.search(text[start : m.end() + reach])
        if found:
            yield text[m.start() : max(m.end(), start + found.end())].strip()


def years_in(text: str) -> list[str]:
    """The years `text` states, as written ("1998", "2022年")."""
    return [m.group(0).strip() for m in _YEAR.finditer(text)]


@lru_cache(maxsize=256)
def _unit_pattern(unit: str) -> re.Pattern[str]:
    return re.compile(unit, re.IGNORECASE)
