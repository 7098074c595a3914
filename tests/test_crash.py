"""The crash benchmark in its short form: real `qa ingest` processes killed with SIGKILL, half
at a step of the write phase and half at a random instant, each repaired to a consistent index
(`python -m qa.eval.crash --kills 100` is the long form)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.eval.crash import run

from .conftest import SEEDS


@pytest.mark.slow
def test_every_killed_ingest_is_repaired_to_a_consistent_index(tmp_path: Path) -> None:
    rounds = run(kills=4, articles=SEEDS, work=tmp_path / "crash", seed=7)
    assert [r.consistent for r in rounds] == [True] * 4
    assert sum(r.killed for r in rounds) >= 2  # the two fault points always kill
