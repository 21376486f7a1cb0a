"""Markers that select targets, and merging per-target resolutions."""

from __future__ import annotations

import itertools

from packaging.markers import Marker

from bundler.lock.merge import marker_for
from bundler.spec.target import make_target

TARGETS = [
    make_target(v, p)
    for v in ("3.10", "3.11", "3.12")
    for p in ("windows", "linux-aarch64", "linux", "macos")
]


def test_every_subset_gets_a_marker_selecting_exactly_it() -> None:
    # All subsets of a smaller grid, plus slices of the big one.
    small = TARGETS[:4] + TARGETS[8:10]
    subsets = [list(c) for r in range(1, len(small)) for c in itertools.combinations(small, r)]
    for subset in subsets:
        marker = Marker(marker_for(subset, small))
        got = [marker.evaluate(dict(t.environment)) for t in small]
        assert got == [t in subset for t in small], (marker, [t.name for t in subset])


def test_simple_cases_read_like_a_person_wrote_them() -> None:
    win = [t for t in TARGETS if t.environment["sys_platform"] == "win32"]
    assert marker_for(win, TARGETS) == 'sys_platform == "win32"'
    old = [t for t in TARGETS if t.environment["python_version"] == "3.10"]
    assert marker_for(old, TARGETS) == 'python_version == "3.10"'
    old_win = [t for t in old if t in win]
    assert marker_for(old_win, TARGETS) == 'sys_platform == "win32" and python_version == "3.10"'
