"""The lock files a bundle carries (``requirements.txt``, ``pylock.toml``),
rendered from a Lock: only the bundle's own files, no index URLs (pure)."""

from __future__ import annotations

import dataclasses

from bundler.bundle.layout import PYLOCK_LOCK, REQUIREMENTS_LOCK
from bundler.lock.files import render_pylock_lock
from bundler.models import IndexSettings, Lock, LockedPackage, Manifest
from bundler.spec.lockfile import render_requirements_lock

__all__ = [
    "bundle_lock",
    "bundle_lock_files",
    "bundle_package",
    "manifest_lock_files",
    "render_pylock_for",
]


def bundle_package(pkg: LockedPackage) -> LockedPackage:
    """A pin as the bundle holds it: only its files that are in the bundle,
    without URLs."""
    files = tuple(dataclasses.replace(f, url="") for f in pkg.files if f.targets)
    return dataclasses.replace(pkg, files=files, direct_url=None)


def bundle_lock(lock: Lock) -> Lock:
    """The lock as the bundle holds it: its files only, no index URLs."""
    return dataclasses.replace(
        lock,
        packages=tuple(bundle_package(p) for p in lock.packages),
        indexes=IndexSettings(index_url=None),
    )


def render_pylock_for(lock: Lock, *, relative_files: bool = False) -> str:
    """PEP 751 form of a lock, one ``environments`` entry per target."""
    location = (lambda f: ("path", f"files/{f.filename}")) if relative_files else None
    return render_pylock_lock(lock, location)


def bundle_lock_files(lock: Lock) -> dict[str, bytes]:
    """``requirements.txt`` and ``pylock.toml`` for a bundle of ``lock``."""
    inner = bundle_lock(lock)
    # No package source options: the bundle is installed from wherever it is
    # (--find-links pypi/files, its simple/ pages, `bundle serve`, a mirror),
    # and a --no-index line would make pip ignore an --index-url given to it.
    # Build requirements stay out of requirements.txt: pip fetches them
    # itself for build isolation, and two sdists may need conflicting
    # versions of one.  pylock.toml keeps them in its [tool] table.
    runtime = dataclasses.replace(
        inner, packages=tuple(p for p in inner.packages if not p.build_only)
    )
    return {
        REQUIREMENTS_LOCK: render_requirements_lock(
            runtime, command="bundle download", sources=False
        ).encode(),
        PYLOCK_LOCK: render_pylock_for(inner, relative_files=True).encode(),
    }


def manifest_lock_files(manifest: Manifest) -> dict[str, bytes]:
    """The lock files of a bundle whose manifest is ``manifest``, exactly as
    ``bundle download`` renders them."""
    lock = Lock(
        packages=manifest.packages,
        targets=manifest.targets,
        requirements=manifest.requirements,
        constraints=manifest.constraints,
        indexes=IndexSettings(index_url=None),
        allow_prereleases=manifest.allow_prereleases,
        only_binary=manifest.only_binary,
        no_binary=manifest.no_binary,
    )
    return bundle_lock_files(lock)
