"""Model cards keep their hand-written part when training rewrites them."""

from __future__ import annotations

from pathlib import Path

from qa.train.cards import HAND_WRITTEN, write_card


def test_a_rewritten_model_card_keeps_its_hand_written_part(tmp_path: Path) -> None:
    card = tmp_path / "card.md"
    write_card(card, "# Model v1\n")
    assert card.read_text(encoding="utf-8") == "# Model v1\n"
    card.write_text(f"# Model v1\n\n{HAND_WRITTEN}\n\nHow it is used.\n", encoding="utf-8")
    write_card(card, "# Model v2\n")
    assert card.read_text(encoding="utf-8") == f"# Model v2\n\n{HAND_WRITTEN}\n\nHow it is used.\n"
