"""The pacer of look-ups made ahead of need (``Pacer``)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from bundler.index.fetchahead import Pacer, PacerClosed
from tests.support.clocks import StepClocks


def _run(pacer: Pacer, jobs: int, enough: Callable[[int], bool]) -> int:
    """Start ``jobs`` threads that each take a turn and hold it; return
    how many held one at once once ``enough`` says so (or after 10 s)."""
    release = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> None:
        with pacer.turn():
            with lock:
                running.append(n)
            release.wait(timeout=10)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(jobs)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not enough(len(running)):
        time.sleep(0.01)
    held = len(running)
    release.set()
    for t in threads:
        t.join(timeout=10)
    assert len(running) == jobs  # every one had its turn in the end
    return held


def test_a_busy_process_keeps_its_first_turns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Pacer, "LOOK_EVERY", 0.001)
    clocks = StepClocks(cores=1.2)  # the interpreter lock, and TLS beside it
    pacer = Pacer(16, start=4, wall_clock=clocks.wall, cpu_clock=clocks.cpu)
    # A dozen looks, each of which would let more run if it were wrong.
    held = _run(pacer, 10, lambda n: n >= 4 and clocks.now > 12)
    assert held == 4
    assert pacer.allowed == 4


def test_a_waiting_process_lets_more_run_up_to_the_limit(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Pacer, "LOOK_EVERY", 0.001)
    clocks = StepClocks(cores=0.3)  # the look-ups wait on the network
    pacer = Pacer(9, start=4, wall_clock=clocks.wall, cpu_clock=clocks.cpu)
    held = _run(pacer, 12, lambda n: n >= 9)
    assert held == 9
    assert pacer.allowed == 9


def test_no_look_is_taken_while_no_one_waits_for_a_turn() -> None:
    clocks = StepClocks(cores=0.0)
    pacer = Pacer(16, start=2, wall_clock=clocks.wall, cpu_clock=clocks.cpu)
    for _ in range(5):
        with pacer.turn():
            pass
    assert pacer.allowed == 2  # an idle process with nothing queued is no reason
    assert clocks.now == 1.0  # the clock was read once, when the pacer was made


def test_look_ups_waiting_for_a_turn_are_not_made_once_closed() -> None:
    clocks = StepClocks(cores=2.0)
    pacer = Pacer(4, start=1, wall_clock=clocks.wall, cpu_clock=clocks.cpu)
    release = threading.Event()
    made: list[int] = []
    gave_up: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> None:
        try:
            with pacer.turn():
                with lock:
                    made.append(n)
                release.wait(timeout=10)
        except PacerClosed:
            with lock:
                gave_up.append(n)

    threads = [threading.Thread(target=job, args=(n,)) for n in range(4)]
    threads[0].start()
    deadline = time.monotonic() + 10
    while not made and time.monotonic() < deadline:
        time.sleep(0.01)
    for t in threads[1:]:
        t.start()
    time.sleep(0.1)  # the other three wait for a turn
    pacer.close()
    for t in threads[1:]:
        t.join(timeout=10)
    assert made == [0] and sorted(gave_up) == [1, 2, 3]  # given up at once
    release.set()
    threads[0].join(timeout=10)  # the one under way finished
    with pytest.raises(PacerClosed), pacer.turn():
        pass
