"""The CRUD-RAG news slice as article files: one file per line of `<bench_dir>/crud-news/*.txt`.

Each line is one article, `[ 2023-07-28 16：40 ] ，正文：<text>`. It becomes
`<cache>/crud-news/<part>-<line>.txt` holding the date on its first line and the text below, the
shape `qa ingest` reads. The data is read from the shared folder, never copied into the project;
a split is written once and reused while the files it came from are unchanged.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from qa.errors import ConfigError

# what comes before the body: a date stamp in one of several styles, often in brackets
_HEAD = re.compile(r"^(?P<head>[^，,]{0,40}?)\s*[，,]?\s*正文[：:]")
_NO_YEAR = re.compile(r"^\d{2}[-/]\d{2}\s")


def source_files(bench_dir: Path) -> list[Path]:
    """The crud-news files under `bench_dir`, or a ConfigError naming what is missing."""
    folder = bench_dir / "crud-news"
    files = sorted(folder.glob("*.txt")) if folder.is_dir() else []
    if not files:
        raise ConfigError(
            f"no crud-news files in {folder}: give --benchmarks the folder that holds crud-news/"
        )
    return files


def article_text(line: str) -> str | None:
    """One crud-news line as article text (date line, blank line, body); None for a blank line."""
    line = line.strip()
    if not line:
        return None
    match = _HEAD.match(line)
    if match is None:
        return line + "\n"
    stamp = unicodedata.normalize("NFKC", match["head"]).strip(" []")
    if _NO_YEAR.match(stamp):  # "07-24 09:50": the whole slice is from 2023 (CRUD-RAG's README)
        stamp = "2023-" + stamp.replace("/", "-", 1)
    body = line[match.end() :].strip()
    return f"{stamp}\n\n{body}\n" if stamp else f"{body}\n"


def split_articles(bench_dir: Path, cache: Path, limit: int | None = None) -> Path:
    """Write the first `limit` crud-news articles (all when None) as files under
    `cache/crud-news-<limit|all>/` and return that folder; an existing complete split is kept."""
    files = source_files(bench_dir)
    stamp = hashlib.sha256(
        "|".join(f"{p.name}:{p.stat().st_size}" for p in files).encode()
    ).hexdigest()[:12]
    folder = cache / f"crud-news-{limit if limit is not None else 'all'}"
    done = folder / ".complete"
    if done.exists() and done.read_text(encoding="utf-8") == stamp:
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("*.txt"):
        old.unlink()
    written = 0
    for path in files:
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, 1):
                if limit is not None and written >= limit:
                    break
                text = article_text(line)
                if text is None:
                    continue
                (folder / f"{path.stem}-{number:05d}.txt").write_text(text, encoding="utf-8")
                written += 1
    done.write_text(stamp, encoding="utf-8")
    return folder
