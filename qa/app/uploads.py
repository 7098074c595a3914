"""Articles uploaded in the chat page: check each file, keep the good ones, ingest them."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qa.corpus.articles import FILE_SUFFIXES, load_article
from qa.corpus.embed import Progress
from qa.corpus.ingest import IngestReport
from qa.errors import ArticleError
from qa.pipeline import QAPipeline


@dataclass
class UploadReport:
    """What an upload did: files refused before ingest (with reasons), and the ingest report."""

    saved: list[str] = field(default_factory=list)
    rejected: list[tuple[str, str]] = field(default_factory=list)
    ingest: IngestReport | None = None


def check_upload(path: Path, name: str, pipeline: QAPipeline) -> None:
    """Raise ArticleError saying why the file `name` (stored at `path`) cannot be added."""
    settings = pipeline.settings
    if name.startswith("."):
        raise ArticleError("the file name starts with a dot (a hidden file): rename it")
    if Path(name).suffix.lower() not in FILE_SUFFIXES:
        raise ArticleError(f"unsupported file type: upload {', '.join(FILE_SUFFIXES)} articles")
    size = path.stat().st_size
    if size > settings.max_upload_bytes:
        raise ArticleError(
            f"{size:,} bytes is over the {settings.max_upload_bytes:,}-byte upload limit "
            "(QA_MAX_UPLOAD_BYTES)"
        )
    if (settings.articles_dir / name).exists():
        raise ArticleError(f"{settings.articles_dir}/ already holds a {name}: rename the file")
    load_article(path, settings.max_article_bytes)  # reads and cleans it, or says why not


def add_uploads(
    pipeline: QAPipeline, files: Sequence[Path], progress: Progress | None = None
) -> UploadReport:
    """Copy the acceptable `files` into settings.uploads_dir and bring the index up to date.

    A refused file is named with its reason and changes nothing: it is never copied. A file
    with the name of an earlier upload replaces it (an updated article).
    """
    report = UploadReport()
    folder = pipeline.settings.uploads_dir
    folder.mkdir(parents=True, exist_ok=True)
    for path in files:
        name = path.name
        try:
            check_upload(path, name, pipeline)
        except ArticleError as exc:
            report.rejected.append((name, str(exc)))
            continue
        except OSError as exc:
            report.rejected.append((name, f"cannot be read: {exc.strerror or exc}"))
            continue
        partial = folder / f".{name}.part"  # dot files are not ingested, so no half file is
        shutil.copyfile(path, partial)
        os.replace(partial, folder / name)
        report.saved.append(name)
    if report.saved:
        report.ingest = pipeline.ingest(progress=progress)
    return report
