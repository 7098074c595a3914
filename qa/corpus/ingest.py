"""Incremental, idempotent ingest of folders of articles into the index, one writer at a time."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from qa.corpus.articles import ARTICLE_SUFFIXES, FILE_SUFFIXES, Article, load_article
from qa.corpus.chunking import Chunk, chunk_article
from qa.corpus.embed import Progress, Staging, embed_records
from qa.errors import ArticleError, ConfigError, IndexDamagedError, IndexLockedError
from qa.index.manifest import ArticleEntry
from qa.index.records import ChunkRecord, page_at
from qa.index.store import Store
from qa.text import split_sentences


@dataclass
class IngestReport:
    """What one ingest did; `skipped` and `duplicates` name each file with the reason."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)  # what was wrong with the index before
    embedded: int = 0  # new chunks indexed (0 when nothing changed)
    sentences: int = 0  # distinct sentences of those chunks
    texts: int = 0  # titles and sentences embedded (none that an earlier, stopped run staged)
    seconds: float = 0.0
    # after the ingest: how many articles the index holds, by the folder they came from
    holds: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when no file was skipped."""
        return not self.skipped


@contextmanager
def writer_lock(folder: Path) -> Iterator[None]:
    """Hold the single-writer lock of the index in `folder`, or fail at once naming the holder."""
    from filelock import FileLock, Timeout

    folder.mkdir(parents=True, exist_ok=True)
    owner = folder / "write.owner"
    lock = FileLock(str(folder / "write.lock"), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        holder = owner.read_text(encoding="utf-8").strip() if owner.exists() else "another process"
        raise IndexLockedError(
            f"the index in {folder} is being written by {holder}; "
            "wait for that ingest to finish (or stop it) and try again"
        ) from None
    try:
        command = " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv[:3]))
        owner.write_text(
            f"pid {os.getpid()} on {socket.gethostname()} ({command}), "
            f"since {time.strftime('%H:%M:%S')}",
            encoding="utf-8",
        )
        yield
    finally:
        owner.unlink(missing_ok=True)
        lock.release()


def read_folder(folder: Path, max_bytes: int) -> tuple[list[Article], list[tuple[str, str]]]:
    """Load the article files in `folder`: the articles, and (file, reason) for each skipped."""
    articles: list[Article] = []
    skipped: list[tuple[str, str]] = []
    inside = folder.resolve()
    for path in sorted(folder.iterdir()):
        if path.name.startswith(".") or (
            path.is_dir() and path.suffix.lower() not in ARTICLE_SUFFIXES
        ):
            continue  # a subfolder is not part of the corpus
        if path.suffix.lower() not in ARTICLE_SUFFIXES:
            skipped.append((path.name, f"unsupported file type: use {', '.join(FILE_SUFFIXES)}"))
            continue
        # realpath, not resolve(): a link loop must be skipped with a reason, not raise
        if path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(inside):
            skipped.append((path.name, "a link to a file outside the folder: copy the article in"))
            continue
        try:
            articles.append(load_article(path, max_bytes))
        except ArticleError as exc:
            skipped.append((path.name, str(exc)))
        except OSError as exc:
            skipped.append((path.name, f"cannot be read: {exc.strerror or exc}"))
    return articles, skipped


def read_folders(
    folders: Sequence[Path], max_bytes: int
) -> tuple[list[Article], list[tuple[str, str]]]:
    """`read_folder` over several folders; a file name already taken by an earlier folder is
    skipped with a reason (article ids are file names, so one would silently replace the other)."""
    articles: list[Article] = []
    skipped: list[tuple[str, str]] = []
    first: dict[str, Path] = {}
    for folder in folders:
        found, bad = read_folder(folder, max_bytes)
        skipped += bad
        for article in found:
            if article.id in first:
                skipped.append(
                    (
                        f"{folder.name}/{article.id}",
                        f"same file name as {first[article.id].name}/{article.id}: rename one",
                    )
                )
                continue
            first[article.id] = folder
            articles.append(article)
    return articles, skipped


def ingest(
    store: Store,
    folders: Path | Sequence[Path],
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    only: bool = False,
) -> IngestReport:
    """Bring the index in line with `folders`: embed only new or changed articles.

    Articles that came from one of `folders` and whose file is gone are removed (`only`: and
    every article that came from another folder, so the index holds these folders alone); a
    file that cannot be read is skipped and, if an older version was indexed, that version is
    kept. The report says what the index holds afterwards, by folder.
    Everything is embedded before the index changes (see `Store.write`); the vectors are
    staged on disk as they come, so an ingest that is stopped resumes where it was.
    """
    folders = [folders] if isinstance(folders, Path) else list(folders)
    for folder in folders:
        if not folder.is_dir():
            raise ConfigError(
                f"{folder} is not a folder of articles: give `qa ingest DIR` a folder"
            )
    started = time.perf_counter()
    report = IngestReport()
    origins = {str(folder.resolve()) for folder in folders}
    with writer_lock(store.folder):
        if not rebuild and store.exists():
            with contextlib.suppress(IndexDamagedError):  # damage is repaired just below
                store.check_compatible()  # another model or chunker: ask for --rebuild
            # an unfinished or damaged index is rebuilt, never reported "unchanged"
            report.repaired = store.problems(thorough=store.unfinished())
            rebuild = bool(report.repaired)
        elif not rebuild and (store.folder / "keyword").exists():
            # parts of an index whose manifest is gone: nothing says which chunks they hold
            report.repaired = ["the manifest is missing"]
            rebuild = True
        if rebuild:
            store.reset()
        else:
            store.check_compatible()
        manifest = store.manifest()
        known = manifest.articles
        articles, report.skipped = read_folders(folders, store.settings.max_article_bytes)
        todo = _plan(articles, known, origins, report, only)
        new_records = [
            _record(article, chunk)
            for article in todo
            for chunk in chunk_article(
                article, store.settings.chunk_size, store.settings.chunk_overlap
            )
        ]
        cache = store.settings.embed_cache_dir
        staging = Staging(
            cache or store.folder / "ingest.staging", store.embedder.model_id, shared=bool(cache)
        )
        embedded = embed_records(store.embedder, new_records, staging, progress)
        report.sentences, report.texts = embedded.distinct_sentences, embedded.texts
        stale = [cid for name in report.updated + report.removed for cid in known[name].chunks]
        for name in report.removed:
            del known[name]
        chunk_ids: dict[str, list[str]] = {}
        for record in new_records:
            chunk_ids.setdefault(record.source, []).append(record.id)
        for article in todo:
            known[article.id] = ArticleEntry(
                sha256=article.sha256,
                title=article.title,
                date=article.date.isoformat() if article.date else None,
                origin=str(article.path.parent.resolve()),
                chunks=chunk_ids.get(article.id, []),
            )
        if todo or report.removed or not (store.folder / "keyword").exists():
            gone = set(stale)
            kept = [r for r in store.keyword.records if r.source in known and r.id not in gone]
            if new_records:
                manifest.dimension = embedded.dimension
            store.write(
                manifest,
                kept + new_records,
                stale,
                new_records,
                embedded,
                lambda here: fault_point(store.settings.fault_point, here),
            )
        staging.done()
        report.embedded = len(new_records)
        report.holds = dict(Counter(entry.origin for entry in known.values()))
    report.seconds = time.perf_counter() - started
    return report


FAULT_POINTS = ("began", "deleted", "upserted", "keyword", "manifest")


def fault_point(chosen: str | None, here: str) -> None:
    """Testing only (QA_FAULT_POINT): kill this process with SIGKILL at a named step of the
    write phase, as a power cut or the OOM killer would."""
    if chosen == here:
        import signal

        os.kill(os.getpid(), signal.SIGKILL)


def _plan(
    articles: list[Article],
    known: dict[str, ArticleEntry],
    origins: set[str],
    report: IngestReport,
    only: bool = False,
) -> list[Article]:
    """Sort articles into added / updated / unchanged / duplicates / removed (`only`: also
    every article from another folder than `origins`); return those to embed."""
    todo: list[Article] = []
    present = {a.id for a in articles}

    def leaving(name: str, entry: ArticleEntry) -> bool:
        return (only or entry.origin in origins) and name not in present

    # an article already indexed keeps its place; a later file with the same text is the twin
    seen_text: dict[str, str] = {
        entry.sha256: name for name, entry in known.items() if not leaving(name, entry)
    }
    for article in articles:
        twin = seen_text.get(article.sha256)
        if twin is not None and twin != article.id:
            report.duplicates.append((article.id, twin))
            if article.id in known:
                report.removed.append(article.id)
            continue
        seen_text[article.sha256] = article.id
        old = known.get(article.id)
        if old is None:
            report.added.append(article.id)
            todo.append(article)
        elif old.sha256 != article.sha256:
            report.updated.append(article.id)
            todo.append(article)
        else:
            report.unchanged.append(article.id)
    skipped = {name for name, _ in report.skipped}
    for name, entry in known.items():
        if leaving(name, entry) and name not in skipped:
            report.removed.append(name)
    return todo


def _record(article: Article, chunk: Chunk) -> ChunkRecord:
    when = int(article.date.strftime("%Y%m%d")) if article.date else 0
    return ChunkRecord(
        chunk.id,
        article.id,
        article.title,
        when,
        chunk.start,
        chunk.end,
        chunk.text,
        tuple(split_sentences(chunk.text)),
        _chunk_pages(article.pages, chunk.start, chunk.end),
    )


def _chunk_pages(starts: tuple[int, ...], start: int, end: int) -> tuple[tuple[int, int], ...]:
    """(page, start offset) of the page a chunk [start, end) starts on and of each page that
    starts inside it."""
    first = page_at(starts, start)
    if first is None:
        return ()
    inside = [(n, s) for n, s in enumerate(starts, start=1) if start < s < end and n > first]
    return ((first, starts[first - 1]), *inside)
