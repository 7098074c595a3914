"""Searches of the vector store and the reopening of it, kept apart: a reopen (after another
process finished an ingest) waits for the searches in flight, and new searches wait for it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

PATIENCE_S = 60.0  # a search takes milliseconds; no wait here is longer than this


class ReadWriteGate:
    """Many readers at once, or one writer; a waiting writer goes before new readers."""

    def __init__(self) -> None:
        self._state = threading.Condition()
        self._readers = 0
        self._writing = False

    @contextmanager
    def reading(self) -> Iterator[None]:
        """Hold a reader's place while the block runs."""
        with self._state:
            self._state.wait_for(lambda: not self._writing, timeout=PATIENCE_S)
            self._readers += 1
        try:
            yield
        finally:
            with self._state:
                self._readers -= 1
                self._state.notify_all()

    @contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the writer's place, once the readers in flight are done, while the block runs."""
        with self._state:
            self._state.wait_for(lambda: not self._writing, timeout=PATIENCE_S)
            self._writing = True
            self._state.wait_for(lambda: self._readers == 0, timeout=PATIENCE_S)
        try:
            yield
        finally:
            with self._state:
                self._writing = False
                self._state.notify_all()
