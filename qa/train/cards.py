"""Model cards: each is written by its training step, with a part written by hand below
`HAND_WRITTEN` (how the model is used, what was measured around it) that a rewrite keeps."""

from __future__ import annotations

from pathlib import Path

HAND_WRITTEN = "<!-- Written by hand below this line; retraining rewrites the card above it. -->"


def write_card(path: Path, generated: str) -> None:
    """Write the card at `path`: `generated`, then the hand-written part it already had."""
    kept = ""
    if path.exists():
        _, marker, after = path.read_text(encoding="utf-8").partition(HAND_WRITTEN)
        kept = marker + after if marker else ""
    text = generated.rstrip("\n") + "\n"
    path.write_text(text + ("\n" + kept if kept else ""), encoding="utf-8")
