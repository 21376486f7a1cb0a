"""Fake clocks for the pools that look at the CPU the process used."""

from __future__ import annotations

import threading

__all__ = ["StepClocks"]


class StepClocks:
    """A wall clock one second further on at every reading, and a CPU
    clock that says ``cores`` busy cores were used meanwhile."""

    def __init__(self, cores: float) -> None:
        self.cores, self.now = cores, 0.0
        self._lock = threading.Lock()

    def wall(self) -> float:
        with self._lock:
            self.now += 1.0
            return self.now

    def cpu(self) -> float:
        return self.now * self.cores
