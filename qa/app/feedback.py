"""Thumbs up/down from the chat page, appended to a JSONL file that `qa eval` reads as a dataset.

Each line fits the eval schema (id, question, answer, key_facts, sources, evidence, type) plus
the rating and the citations, so real questions become eval items: a liked answer's sources
are taken as gold, a liked refusal marks the question unanswerable.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from pathlib import Path
from typing import Any, Literal

from qa.models import Answer

Rating = Literal["up", "down"]


def feedback_record(answer: Answer, rating: Rating) -> dict[str, Any]:
    """The JSON object stored for one rated answer."""
    liked = rating == "up"
    return {
        "id": f"feedback-{uuid.uuid4().hex[:12]}",
        "question": answer.question,
        "answer": answer.text,
        "key_facts": [],
        "sources": sorted({c.source for c in answer.citations}) if liked else [],
        "evidence": [c.quote for c in answer.citations] if liked else [],
        "type": "feedback",
        "answerable": (not answer.refused) if liked else None,
        "rating": rating,
        "citations": [c.model_dump(mode="json") for c in answer.citations],
        "backend": answer.backend,
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }


def record_feedback(path: Path, answer: Answer, rating: Rating) -> dict[str, Any]:
    """Append one rated answer to `path` (several chat users may write at once)."""
    from filelock import FileLock

    record = feedback_record(answer, rating)
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path) + ".lock", timeout=10), path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return record
