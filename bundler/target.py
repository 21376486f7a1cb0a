"""Targets: the environments a bundle must install on.

A ``Target`` carries everything that differs per environment (marker
environment, ordered wheel tags, Python version), so core code never reads
the host.  ``host_target()`` is the only place that looks at the running
interpreter.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from packaging.markers import Marker, default_environment
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, sys_tags
from packaging.version import Version


@dataclass(frozen=True)
class Target:
    """One environment: a Python version/implementation plus a platform."""

    name: str
    python_full_version: str
    # PEP 508 marker environment, complete (every variable set).
    environment: Mapping[str, str] = field(hash=False, compare=False)
    # Compatible wheel tags, most preferred first (packaging.tags order).
    tags: tuple[Tag, ...] = field(hash=False, compare=False, repr=False)
    # Platform tags as given by the user (for pip --platform), e.g.
    # ("manylinux_2_28_x86_64",); empty for the host.
    platforms: tuple[str, ...] = ()
    implementation: str = "cp"
    is_host: bool = False

    @cached_property
    def tag_priority(self) -> Mapping[Tag, int]:
        """Tag -> rank (0 is best)."""
        ranks: dict[Tag, int] = {}
        for i, tag in enumerate(self.tags):
            ranks.setdefault(tag, i)
        return ranks

    @property
    def python_version(self) -> Version:
        return Version(self.python_full_version)

    @property
    def python_short(self) -> str:
        v = self.python_version
        return f"{v.major}.{v.minor}"

    def wheel_rank(self, tags: frozenset[Tag]) -> int | None:
        """Best rank of any of a wheel's tags for this target, or None
        when the wheel cannot be installed here."""
        best: int | None = None
        priority = self.tag_priority
        for tag in tags:
            rank = priority.get(tag)
            if rank is not None and (best is None or rank < best):
                best = rank
        return best

    def evaluate_marker(self, marker: Marker | None, extra: str | None = None) -> bool:
        """Evaluate a PEP 508 marker in this target's environment."""
        if marker is None:
            return True
        env: dict[str, str] = dict(self.environment)
        env["extra"] = extra or ""
        return marker.evaluate(env)

    def python_matches(self, requires_python: str | None) -> bool:
        """Whether Requires-Python admits this target's Python.

        An unparsable Requires-Python is ignored, as pip does.
        """
        if not requires_python:
            return True
        try:
            spec = SpecifierSet(requires_python)
        except InvalidSpecifier:
            return True
        return spec.contains(self.python_full_version, prereleases=True)


def host_target() -> Target:
    """The running interpreter as a Target (the default target)."""
    env = dict(default_environment())
    impl = sys.implementation.name
    short = {"cpython": "cp", "pypy": "pp"}.get(impl, impl)
    machine = platform.machine().lower() or "unknown"
    name = f"{short}{sys.version_info.major}{sys.version_info.minor}-{sys.platform}-{machine}"
    return Target(
        name=name,
        python_full_version=env["python_full_version"],
        environment=env,
        tags=tuple(sys_tags()),
        implementation=short,
        is_host=True,
    )
