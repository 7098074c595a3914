"""The crash benchmark: kill `qa ingest` with SIGKILL at random instants and check that the
next ingest always leaves a consistent index.

    python -m qa.eval.crash --kills 100 [--articles seeds] [--work DIR] [--seed 1]

Each round changes the corpus (an article edited, one added, one deleted), starts a real
`qa ingest` process and kills it: half the rounds at a named step of the write phase
(`QA_FAULT_POINT`), the others after a random delay within the time an uninterrupted ingest
takes. Then an ingest in this process repairs the index, and the round counts as consistent when
Chroma, BM25 and the manifest agree and the manifest holds exactly the articles on disk.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.corpus.articles import load_article
from qa.corpus.ingest import FAULT_POINTS
from qa.index.embeddings import make_embedder
from qa.pipeline import QAPipeline


@dataclass
class Round:
    """One kill and what the repairing ingest found."""

    how: str  # a fault point, or "after 1.23 s"
    killed: bool  # False when the ingest finished before the kill
    consistent: bool


def _change(folder: Path, spare: Path, turn: int) -> None:
    """Edit one article, and take one away or bring it back, so every write step has work."""
    files = sorted(p for p in folder.iterdir() if p.suffix == ".txt")
    edited = files[turn % len(files)]
    edited.write_text(edited.read_text(encoding="utf-8") + f"\n\nRound {turn}.", "utf-8")
    moved = folder / spare.name
    if moved.exists():
        moved.unlink()
    else:
        shutil.copy(spare, moved)


def _consistent(pipeline: QAPipeline, folder: Path) -> bool:
    if pipeline.store.problems():
        return False
    listed = {n: e.sha256 for n, e in pipeline.store.manifest().articles.items()}
    on_disk = {p.name: load_article(p, 2_000_000).sha256 for p in folder.iterdir()}
    return listed == on_disk


def run(kills: int, articles: Path, work: Path, seed: int) -> list[Round]:
    """Play `kills` rounds in `work` over a copy of `articles`; return each round."""
    rng = random.Random(seed)
    shutil.rmtree(work, ignore_errors=True)
    folder, spare = work / "articles", work / "spare.txt"
    shutil.copytree(articles, folder)
    first = sorted(folder.iterdir())[0]
    shutil.move(first, spare)  # comes and goes
    settings = Settings(
        articles_dir=folder, index_dir=work / "index", uploads_dir=work / "up", web_dir=work / "web"
    )
    embedder = make_embedder(settings)  # loaded once for every repair in this process
    QAPipeline(settings, embedder).ingest(str(folder))
    env = {**os.environ, "QA_ARTICLES_DIR": str(folder), "QA_INDEX_DIR": str(work / "index")}
    command = [sys.executable, "-m", "qa.app.cli", "ingest", str(folder)]
    clock = time.perf_counter()
    subprocess.run(command, env=env, capture_output=True, timeout=600, check=False)
    span = time.perf_counter() - clock  # an ingest with nothing to do: start-up dominates
    rounds = []
    for turn in range(kills):
        _change(folder, spare, turn)
        point = rng.choice(FAULT_POINTS) if turn % 2 == 0 else None
        delay = rng.uniform(0.0, span * 1.5)
        extra = {"QA_FAULT_POINT": point} if point else {}
        process = subprocess.Popen(
            command, env={**env, **extra}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        if point is None:
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
        code = process.wait(timeout=600)
        QAPipeline(settings, embedder).ingest(str(folder))
        rounds.append(
            Round(
                point or f"after {delay:.2f} s",
                code == -signal.SIGKILL,
                _consistent(QAPipeline(settings, embedder), folder),
            )
        )
    return rounds


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print one line per round and the totals."""
    parser = argparse.ArgumentParser(
        prog="python -m qa.eval.crash", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--articles", type=Path, default=Path("seeds"))
    parser.add_argument("--work", type=Path, default=Path(".qa-cache/crash"))
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rounds = run(args.kills, args.articles, args.work, args.seed)
    for r in rounds:
        print(f"{r.how:>16}  killed={r.killed!s:5}  consistent={r.consistent}")
    killed = sum(r.killed for r in rounds)
    print(
        f"{sum(r.consistent for r in rounds)} of {len(rounds)} consistent; {killed} killed "
        f"({sum(r.killed and r.how in FAULT_POINTS for r in rounds)} inside the write phase)"
    )


if __name__ == "__main__":
    main()
