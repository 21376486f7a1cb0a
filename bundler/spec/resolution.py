"""What the resolver found for one target: plain frozen data that the
resolve stage makes and the lock stage merges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.models import IndexFile
from bundler.spec.target import Target

__all__ = ["Resolution", "ResolvedPackage"]


@dataclass(frozen=True)
class ResolvedPackage:
    """One package of a resolution for one target."""

    name: NormalizedName
    version: Version
    files: tuple[IndexFile, ...]  # usable files of the release, best first
    chosen: IndexFile  # the file the target installs
    via: tuple[str, ...]
    extras: frozenset[NormalizedName] = frozenset()
    direct: bool = False
    requires_dist: tuple[str, ...] = ()


@dataclass(frozen=True)
class Resolution:
    """What the resolver found for one target (the lock merges these)."""

    target: Target
    packages: Mapping[NormalizedName, ResolvedPackage]
    # What the resolution left out and why (releases with invalid metadata).
    warnings: tuple[str, ...] = ()
