"""The chat page's admission gate: a few answered at once, a bounded number waiting, and the
rest told it is busy in words (pure logic with real threads, no model)."""

from __future__ import annotations

import threading
import time

from qa.app.admission import Admission


def hold(
    gate: Admission, entered: threading.Event, release: threading.Event, out: list[bool]
) -> threading.Thread:
    """A question that holds its place in the gate until `release`."""

    def run() -> None:
        with gate.enter() as admitted:
            out.append(admitted)
            entered.set()
            release.wait(10)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_past_the_waiting_room_a_question_is_told_at_once() -> None:
    gate = Admission(concurrent=1, waiting=1, patience_s=10)
    first_in, first_go, first = threading.Event(), threading.Event(), []
    a = hold(gate, first_in, first_go, first)
    assert first_in.wait(5) and first == [True]
    second_in, second_go, second = threading.Event(), threading.Event(), []
    b = hold(gate, second_in, second_go, second)  # waits for the slot
    deadline = time.monotonic() + 5
    while gate._waiting < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    with gate.enter() as third:
        assert third is False and time.monotonic() - started < 1  # busy, without waiting
    first_go.set()
    assert second_in.wait(5) and second == [True]  # the waiting one got the slot
    second_go.set()
    a.join(5)
    b.join(5)
    with gate.enter() as again:
        assert again is True


def test_a_question_waits_no_longer_than_its_patience() -> None:
    gate = Admission(concurrent=1, waiting=5, patience_s=0.2)
    entered, go, out = threading.Event(), threading.Event(), []
    holder = hold(gate, entered, go, out)
    assert entered.wait(5)
    started = time.monotonic()
    with gate.enter() as admitted:
        assert admitted is False and 0.15 < time.monotonic() - started < 3
    go.set()
    holder.join(5)
