"""The names of a bundle's layout, each defined once.

A bundle directory::

    bundle.json                 the manifest
    requirements.txt            the lock, pip's format
    pylock.toml                 the lock, PEP 751
    sbom.cdx.json               the CycloneDX SBOM (when asked for)
    .bundle-verified.json       the gate's verdict on this bundle.json
    files/<file>                the distributions
    files/<file>.metadata       their PEP 658 core metadata
    simple/index.html           the PEP 503 root page (index.json: PEP 691)
    simple/<project>/index.html the project pages (and index.json)

The lock file names live in ``bundler.models`` because the manifest's
default list of lock files needs them; they are imported here so that the
bundle's layout is read in one place.
"""

from __future__ import annotations

from bundler.models import BUNDLE_LOCK_FILES, PYLOCK_LOCK, REQUIREMENTS_LOCK

__all__ = [
    "BUNDLE_LOCK_FILES",
    "FILES_DIR",
    "LOCK_FILE_NAMES",
    "MANIFEST_NAME",
    "METADATA_SUFFIX",
    "PAGE_HTML",
    "PAGE_JSON",
    "PYLOCK_LOCK",
    "REQUIREMENTS_LOCK",
    "RESERVED_NAMES",
    "SBOM_FILE",
    "SIMPLE_DIR",
    "STAMP_NAME",
]

# The distributions, under their own file names.
FILES_DIR = "files"
# The static simple index: the root page and one directory per project.
SIMPLE_DIR = "simple"
# The manifest: what the bundle holds and why.
MANIFEST_NAME = "bundle.json"
# PEP 658: the core metadata of a file, as "<file>.metadata" next to it.
METADATA_SUFFIX = ".metadata"
# PEP 503: a page of the simple index, HTML.
PAGE_HTML = "index.html"
# PEP 691: the same page, JSON.
PAGE_JSON = "index.json"
# The CycloneDX SBOM, at the top next to the lock files.
SBOM_FILE = "sbom.cdx.json"
# The gate's verdict on one bundle.json, kept beside what it judged.
STAMP_NAME = ".bundle-verified.json"
# Every lock file name a bundle may carry at its top.
LOCK_FILE_NAMES = frozenset(BUNDLE_LOCK_FILES)
# Names the bundle itself owns at its top; extra files may not shadow them.
RESERVED_NAMES = frozenset({FILES_DIR, SIMPLE_DIR, MANIFEST_NAME})
