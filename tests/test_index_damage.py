"""Every file of a built index truncated, emptied, garbled or deleted, as a user meets it
through the `qa` command against the real Chroma: a question answers as before or fails with
one line naming the command that repairs it, `qa ingest --check` notices, plain `qa ingest`
repairs it or names `qa ingest --rebuild`, and `qa ingest --rebuild` always recovers.

The index is built once per module (big enough that Chroma has flushed its HNSW segment to
disk) and copied for each case. Each command runs as a fresh process would see the index: the
embedded store's handle is dropped first. The outcome of each case is written to
test-artifacts/index-damage.md.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from qa.index.embeddings import Embedder
from qa.index.store import Store

from .conftest import ROOT, SEEDS, make_pipeline

QUESTION = "When was Haichen Precision Machinery established?"
ANSWERING = "003_741e1901b211ff40.txt"  # the one seed that answers QUESTION
# Chroma writes its HNSW files only after `sync_threshold` (1000) vectors: copies of the other
# seeds, each with a sentence of its own, take the index past that
PADDING_COPIES = 22

SEGMENT = "chroma/SEGMENT/"  # the HNSW segment folder, named by a uuid chosen at ingest
FILES = (
    "manifest.json",
    "keyword/records.jsonl",
    "keyword/sentences.npy",
    "keyword/chunks.npy",
    "keyword/terms.jsonl",
    "keyword/sentence_terms.npy",
    "keyword/sentence_terms_at.npy",
    "keyword/bm25/data.csc.index.npy",
    "keyword/bm25/indices.csc.index.npy",
    "keyword/bm25/indptr.csc.index.npy",
    "keyword/bm25/params.index.json",
    "keyword/bm25/vocab.index.json",
    "chroma/chroma.sqlite3",
    SEGMENT + "data_level0.bin",
    SEGMENT + "header.bin",
    SEGMENT + "length.bin",
    SEGMENT + "link_lists.bin",
    SEGMENT + "index_metadata.pickle",
)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _garble(path: Path) -> None:
    """Flip the bits of up to 64 bytes in the middle of the file (its size is kept)."""
    data = bytearray(path.read_bytes())
    start = len(data) // 2
    for i in range(start, min(start + 64, len(data))):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _delete(path: Path) -> None:
    path.unlink()


DAMAGES: dict[str, Callable[[Path], None]] = {
    "truncated": _truncate,
    "emptied": _empty,
    "garbled": _garble,
    "deleted": _delete,
}
# 36 cases run in every test run: each file and each damage at least once, and every case that
# crashed, misled or traceback'd before the fixes; the other 36 of the 72 are marked slow
QUICK = {
    "manifest.json": ("truncated", "deleted"),
    "keyword/records.jsonl": ("emptied", "deleted"),
    "keyword/sentences.npy": ("truncated", "deleted"),
    "keyword/chunks.npy": ("truncated", "deleted"),
    "keyword/terms.jsonl": ("garbled",),
    "keyword/sentence_terms.npy": ("garbled", "deleted"),
    "keyword/sentence_terms_at.npy": ("truncated",),
    "keyword/bm25/data.csc.index.npy": ("garbled", "deleted"),
    "keyword/bm25/indices.csc.index.npy": ("truncated",),
    "keyword/bm25/indptr.csc.index.npy": ("emptied",),
    "keyword/bm25/params.index.json": ("garbled",),
    "keyword/bm25/vocab.index.json": ("truncated",),
    "chroma/chroma.sqlite3": tuple(DAMAGES),
    SEGMENT + "data_level0.bin": tuple(DAMAGES),
    SEGMENT + "header.bin": tuple(DAMAGES),
    SEGMENT + "length.bin": ("truncated", "garbled"),
    SEGMENT + "link_lists.bin": ("garbled", "deleted"),
    SEGMENT + "index_metadata.pickle": ("garbled", "deleted"),
}
CASES = [
    pytest.param(
        name,
        damage,
        id=f"{name}-{damage}",
        marks=() if damage in QUICK[name] else pytest.mark.slow,
    )
    for name in FILES
    for damage in DAMAGES
]


class Remembering:
    """The real embedder, embedding each text once per test module: the rebuilds re-embed the
    same texts and get the very same vectors back, without the minutes that would take."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self._seen: dict[str, np.ndarray] = {}

    def embed_documents(self, texts: Sequence[str]) -> np.ndarray:
        new = [t for t in dict.fromkeys(texts) if t not in self._seen]
        if new:
            self._seen.update(zip(new, self.inner.embed_documents(new), strict=True))
        return np.stack([self._seen[t] for t in texts])

    def embed_query(self, text: str) -> np.ndarray:
        return self.inner.embed_query(text)


@dataclass
class Template:
    """The index built once, the articles it was built from, and the answer it gives."""

    folder: Path
    articles: Path
    embedder: Remembering
    answer: str


@dataclass
class Outcome:
    """What the user saw in one damage case."""

    ask: str = ""  # same | one line | traceback | silent
    check: str = ""  # noticed | consistent
    ingest: str = ""  # repaired | one line | traceback | silent
    rebuild: str = ""  # recovered | failed

    @property
    def kind(self) -> str:
        if "traceback" in (self.ask, self.ingest) or self.rebuild != "recovered":
            return "traceback or unrecovered"
        if "silent" in (self.ask, self.ingest):
            return "silent"
        if self.ask == "same" and self.check == "consistent":
            return "harmless"
        return "auto-repaired" if self.ingest == "repaired" else "one-line message"


OUTCOMES: dict[str, Outcome] = {}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Template]:
    tmp = tmp_path_factory.mktemp("damage-template")
    articles = tmp / "articles"
    shutil.copytree(SEEDS, articles)
    for source in sorted(SEEDS.glob("*.txt")):
        if source.name == ANSWERING:
            continue
        text = source.read_text(encoding="utf-8")
        for i in range(PADDING_COPIES):
            padded = f"{text}\n\nThis is reprint number {i + 1} of the article."
            (articles / f"reprint{i + 1:02d}_{source.name}").write_text(padded, encoding="utf-8")
    remembering = Remembering(embedder)
    pipe = make_pipeline(tmp, articles, remembering)  # type: ignore[arg-type]
    pipe.ingest()
    pipe.store.reload(reopen=True)
    for name in FILES:
        assert _resolve(tmp / "index", name).is_file(), f"the built index has no {name}"
    answer = _cli(tmp, articles, remembering, ["ask", QUESTION])
    assert answer.exit_code == 0 and "1998" in answer.stdout, answer.output
    yield Template(tmp / "index", articles, remembering, answer.stdout)
    _write_summary()


def _resolve(index: Path, name: str) -> Path:
    if name.startswith(SEGMENT):
        (segment,) = [p for p in (index / "chroma").iterdir() if p.is_dir()]
        return segment / name.removeprefix(SEGMENT)
    return index / name


def _cli(tmp: Path, articles: Path, embedder: Remembering, args: list[str]) -> Result:
    """Run `qa ARGS` as a new process would: nothing of the index is held open before it."""
    pipe = make_pipeline(tmp, articles, embedder)  # type: ignore[arg-type]
    # drops chromadb's cached handle
    Store(pipe.settings, pipe.embedder, pipe.store.chunker).reload(reopen=True)
    import qa.app.cli

    original = qa.app.cli.pipeline
    qa.app.cli.pipeline = lambda: pipe
    try:
        return CliRunner().invoke(qa.app.cli.main, args)
    finally:
        qa.app.cli.pipeline = original
        pipe.store.reload(reopen=True)


def _one_line(result: Result, command: str) -> bool:
    """Exit code 2 and a single `error:` line on stderr that names `command`."""
    lines = result.stderr.strip().splitlines()
    return (
        result.exit_code == 2
        and len(lines) == 1
        and lines[0].startswith("error: ")
        and command in lines[0]
        and "Traceback" not in result.output
    )


def _asked(result: Result, before: str, command: str) -> str:
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        return "traceback"
    if result.exit_code == 0 and result.stdout == before:
        return "same"
    return "one line" if _one_line(result, command) else "silent"


@pytest.mark.parametrize(("name", "damage"), CASES)
def test_a_damaged_index_file_is_named_and_repaired(
    template: Template, tmp_path: Path, name: str, damage: str
) -> None:
    shutil.copytree(template.folder, tmp_path / "index")
    DAMAGES[damage](_resolve(tmp_path / "index", name))
    outcome = OUTCOMES.setdefault(f"{name} {damage}", Outcome())

    def qa(*args: str) -> Result:
        return _cli(tmp_path, template.articles, template.embedder, list(args))

    asked = qa("ask", QUESTION)
    outcome.ask = _asked(asked, template.answer, "`qa ingest")
    checked = qa("ingest", "--check")
    outcome.check = "consistent" if checked.exit_code == 0 else "noticed"
    ingested = qa("ingest")
    if ingested.exit_code == 0:
        outcome.ingest = _asked(qa("ask", QUESTION), template.answer, "")
        outcome.ingest = "repaired" if outcome.ingest == "same" else outcome.ingest
    else:
        outcome.ingest = _asked(ingested, "", "`qa ingest --rebuild`")
    rebuilt = qa("ingest", "--rebuild")
    again = qa("ask", QUESTION)
    outcome.rebuild = (
        "recovered"
        if rebuilt.exit_code == 0 and _asked(again, template.answer, "") == "same"
        else "failed"
    )
    assert outcome.ask in ("same", "one line"), _shown(asked)
    assert outcome.ingest in ("repaired", "one line"), _shown(ingested)
    assert outcome.rebuild == "recovered", _shown(rebuilt) + _shown(again)
    if outcome.ask != "same":
        assert outcome.check == "noticed", checked.output


def _shown(result: Result) -> str:
    """What the command printed, and the traceback a user would have seen, if any."""
    import traceback

    shown = result.output
    if result.exc_info is not None and not isinstance(result.exception, SystemExit):
        shown += "".join(traceback.format_exception(*result.exc_info))
    return shown


def _write_summary() -> None:
    """The figures of this run: one row per case, then the count of each outcome."""
    if not OUTCOMES:
        return
    rows = ["| file and damage | question | --check | qa ingest | --rebuild | outcome |"]
    rows.append("|---|---|---|---|---|---|")
    for case, o in OUTCOMES.items():
        rows.append(f"| {case} | {o.ask} | {o.check} | {o.ingest} | {o.rebuild} | {o.kind} |")
    counts = Counter(o.kind for o in OUTCOMES.values())
    rows.append("")
    rows.append(
        f"{len(OUTCOMES)} cases: " + ", ".join(f"{n} {k}" for k, n in sorted(counts.items()))
    )
    folder = ROOT / "test-artifacts"
    folder.mkdir(exist_ok=True)
    (folder / "index-damage.md").write_text("\n".join(rows) + "\n", encoding="utf-8")
