"""The index's read/write gate: searches run together, a reopen waits for those in flight and
goes before new ones (pure logic with real threads, no model)."""

from __future__ import annotations

import threading
import time

from qa.index.gate import ReadWriteGate


def test_a_writer_waits_for_readers_in_flight_and_goes_before_new_ones() -> None:
    gate = ReadWriteGate()
    events: list[str] = []
    reading, release = threading.Event(), threading.Event()

    def reader(name: str, hold: threading.Event | None) -> None:
        with gate.reading():
            events.append(f"{name} in")
            if hold is not None:
                reading.set()
                hold.wait(5)
            events.append(f"{name} out")

    def writer() -> None:
        with gate.writing():
            events.append("write")

    first = threading.Thread(target=reader, args=("first", release))
    first.start()
    assert reading.wait(5)
    w = threading.Thread(target=writer)
    w.start()
    deadline = time.monotonic() + 5
    while not gate._writing and time.monotonic() < deadline:
        time.sleep(0.01)
    late = threading.Thread(target=reader, args=("late", None))
    late.start()
    time.sleep(0.1)
    assert events == ["first in"]  # the writer waits for first; late waits for the writer
    release.set()
    for thread in (first, w, late):
        thread.join(5)
    assert events == ["first in", "first out", "write", "late in", "late out"]
