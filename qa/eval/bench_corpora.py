"""The corpora `qa.eval bench` runs over: the crud-news preset's sizes, or a folder cut to sizes;
each with its own cache folder for the indexes and ingest figures."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

from qa.eval.bench import Corpus, article_files, stamp


def cut(folder: Path, n: int, into: Path) -> Path:
    """The first `n` articles of `folder` copied into `into` (kept while it is complete)."""
    files = article_files(folder)[:n]
    done = into / ".complete"
    key = stamp(folder) + f":{n}"
    if done.exists() and done.read_text(encoding="utf-8") == key:
        return into
    shutil.rmtree(into, ignore_errors=True)
    into.mkdir(parents=True)
    for path in files:
        shutil.copy2(path, into / path.name)
    done.write_text(key, encoding="utf-8")
    return into


def preset_corpora(
    seeds: Path, bench_dir: Path, cache: Path, sizes: list[int | None]
) -> list[Corpus]:
    """The crud-news preset: the seeds, then the first n crud-news articles for each size
    (None: all of them), split into article files under the cache."""
    from qa.eval.crud_news import split_articles

    corpora = [Corpus("seeds", seeds, cache / "bench" / "seeds")]
    for n in sizes:
        folder = split_articles(bench_dir, cache, n)
        label = f"crud-news {n if n is not None else 'all'}"
        corpora.append(Corpus(label, folder, cache / "bench" / folder.name))
    return corpora


def folder_corpora(folder: Path, cache: Path, sizes: list[int | None]) -> list[Corpus]:
    """A folder as given (size None), or cut to its first n articles for each size."""
    where = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:8]
    base = cache / "bench" / f"{folder.name}-{where}"
    corpora = []
    for n in sizes or [None]:
        if n is None:
            corpora.append(Corpus(folder.name, folder, base / "all"))
        else:
            cut_folder = cut(folder, n, base / f"first-{n}" / "articles")
            corpora.append(Corpus(f"{folder.name} {n}", cut_folder, base / f"first-{n}"))
    return corpora
