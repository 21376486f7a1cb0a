"""The bundle tree as the gate reads it: what may sit at a bundle's top,
and what makes an entry a real file or directory of the bundle.  The
layout's names themselves are ``bundler.bundle.layout``'s."""

from __future__ import annotations

from pathlib import Path

from bundler.bundle.layout import (
    FILES_DIR,
    MANIFEST_NAME,
    PYLOCK_LOCK,
    REQUIREMENTS_LOCK,
    SBOM_FILE,
    SIMPLE_DIR,
    STAMP_NAME,
)

__all__ = [
    "REFETCH",
    "REWRITE",
    "TOP_LEVEL_DIRS",
    "TOP_LEVEL_FILES",
    "not_a_dir",
    "not_a_file",
]

# What may be at a bundle's top besides the layout's own names.
# STAMP_NAME: the gate's own verdict, kept beside what it judged.
TOP_LEVEL_FILES = frozenset(
    {MANIFEST_NAME, REQUIREMENTS_LOCK, PYLOCK_LOCK, SBOM_FILE, ".bundle.lock", STAMP_NAME}
)
TOP_LEVEL_DIRS = frozenset({FILES_DIR, SIMPLE_DIR})

# How to repair a missing file or page.
REFETCH = "re-run `bundle download` to fetch it"
REWRITE = "re-run `bundle download` to rewrite the index"


def not_a_file(path: Path, hint: str) -> str | None:
    """Why ``path`` is not a regular file of the bundle, or None when it is."""
    if path.is_symlink():
        return "is a symbolic link; a bundle holds real files"
    if not path.is_file():
        return f"missing ({hint})" if hint else "missing"
    return None


def not_a_dir(path: Path, hint: str) -> str | None:
    """Why ``path`` is not a real directory of the bundle, or None when it is."""
    if path.is_symlink():
        return "is a symbolic link; a bundle holds real directories"
    if not path.is_dir():
        return f"missing ({hint})"
    return None
