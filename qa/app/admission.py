"""Admission to the answerer of the chat page and the API: a few questions answered at once, a
bounded number waiting, and a plain "busy" for the rest, so that a crowd gets answers or words,
never errors.

Gradio's own bounded queue rejects the question before any handler runs, which the page can
only show as an error toast; this gate runs inside the handler, so the refusal is a message in
the chat (and, from `qa serve`, a 429 with the same words).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qa.config import Settings

BUSY = (
    "Delta QA is busy: more questions are waiting than it can answer soon. "
    "Ask again in a minute."
)


class Admission:
    """`with gate.enter() as admitted:` answers when `admitted`, and says it is busy otherwise."""

    def __init__(self, concurrent: int, waiting: int, patience_s: float) -> None:
        self._slots = threading.BoundedSemaphore(concurrent)
        self._lock = threading.Lock()
        self._waiting = 0
        self.most_waiting = waiting
        self.patience_s = patience_s

    @classmethod
    def of(cls, settings: Settings) -> Admission:
        """The gate the settings describe (QA_CHAT_CONCURRENCY, _QUEUE_SIZE, _PATIENCE), one
        for the chat page and the API alike."""
        return cls(settings.chat_concurrency, settings.chat_queue_size, settings.chat_patience)

    @contextmanager
    def enter(self) -> Iterator[bool]:
        """Take a slot, waiting at most `patience_s` behind at most `most_waiting` others."""
        with self._lock:
            if self._waiting >= self.most_waiting:
                yield False
                return
            self._waiting += 1
        try:
            admitted = self._slots.acquire(timeout=self.patience_s)
        finally:
            with self._lock:
                self._waiting -= 1
        try:
            yield admitted
        finally:
            if admitted:
                self._slots.release()
