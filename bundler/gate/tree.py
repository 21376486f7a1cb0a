"""The bundle tree as the gate reads it: the names of its layout, and what
makes an entry a real file or directory of the bundle."""

from __future__ import annotations

from pathlib import Path

from bundler.bundle.layout import STAMP_NAME

__all__ = [
    "FILES",
    "LOCK_FILES",
    "MANIFEST",
    "METADATA_SUFFIX",
    "PAGE_HTML",
    "PAGE_JSON",
    "PYLOCK",
    "REFETCH",
    "REQUIREMENTS",
    "REWRITE",
    "SBOM",
    "SIMPLE",
    "TOP_LEVEL_DIRS",
    "TOP_LEVEL_FILES",
    "not_a_dir",
    "not_a_file",
]

# The bundle layout (DESIGN.md), spelled out here on purpose: the gate checks
# what the writer produced against the contract, not against the writer.
FILES = "files"
SIMPLE = "simple"
MANIFEST = "bundle.json"
REQUIREMENTS = "requirements.txt"
PYLOCK = "pylock.toml"
PAGE_HTML = "index.html"
PAGE_JSON = "index.json"
METADATA_SUFFIX = ".metadata"  # PEP 658
SBOM = "sbom.cdx.json"  # CycloneDX
LOCK_FILES = frozenset({REQUIREMENTS, PYLOCK})
# STAMP_NAME: the gate's own verdict, kept beside what it judged.
TOP_LEVEL_FILES = frozenset({MANIFEST, REQUIREMENTS, PYLOCK, SBOM, ".bundle.lock", STAMP_NAME})
TOP_LEVEL_DIRS = frozenset({FILES, SIMPLE})

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
