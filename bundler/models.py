"""Plain frozen data shared by every stage (index, resolve, lock, bundle, gate).

The base layer: it imports nothing of bundler, and stages hand each other
these values. Names are normalized at the edge
(``packaging.utils.canonicalize_name``) and typed as ``NormalizedName``
afterwards.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

from packaging.utils import NormalizedName
from packaging.version import Version

__all__ = [
    "BUNDLE_LOCK_FILES",
    "HASH_LENGTHS",
    "PYLOCK_LOCK",
    "REQUIREMENTS_LOCK",
    "BundleArtifact",
    "CoreMetadata",
    "DistKind",
    "IndexFile",
    "IndexSettings",
    "IndexStrategy",
    "Lock",
    "LockFileRef",
    "LockInput",
    "LockPin",
    "LockedFile",
    "LockedPackage",
    "Manifest",
    "NamedIndex",
]


class DistKind(str, enum.Enum):
    WHEEL = "wheel"
    SDIST = "sdist"


@dataclass(frozen=True)
class IndexFile:
    """One distribution file as an index page (PEP 503/691) or a
    find-links location lists it."""

    filename: str
    url: str  # absolute; may carry credentials: never print it raw
    project: NormalizedName
    version: Version
    kind: DistKind
    hashes: Mapping[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    yanked: str | None = None  # None: not yanked; "" yanked without reason
    # PEP 658/714: None when not advertised, {} when advertised without
    # hashes, else the hashes of the .metadata file.
    core_metadata: Mapping[str, str] | None = None
    size: int | None = None
    upload_time: str | None = None
    index: str = ""  # display name of the source (redacted URL or name)

    @property
    def sha256(self) -> str | None:
        return self.hashes.get("sha256")

    @property
    def is_yanked(self) -> bool:
        return self.yanked is not None


class IndexStrategy(str, enum.Enum):
    """What to do with a project that more than one source lists
    (dependency confusion, CVE-2018-20225)."""

    UNIQUE = "unique"  # an error unless one source owns the project
    FIRST_INDEX = "first-index"  # the first source that has it (uv's default)
    UNSAFE_BEST_MATCH = "unsafe-best-match"  # every source merged (pip's behaviour)


@dataclass(frozen=True)
class NamedIndex:
    """An index (or, when ``flat``, a find-links location) with a name and
    the projects it owns: an owned project is only ever taken from it."""

    name: str
    url: str = field(repr=False)  # may carry credentials: never print it raw
    # Normalized project names, or a normalized prefix ending in "*".
    packages: tuple[str, ...] = ()
    flat: bool = False  # a find-links page or directory, not a PEP 503 index


@dataclass(frozen=True)
class IndexSettings:
    """Where packages come from; mirrors pip's options."""

    index_url: str | None = "https://pypi.org/simple/"  # None: --no-index
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    # Searched before index_url and extra_index_urls, in this order.
    named_indexes: tuple[NamedIndex, ...] = ()
    index_strategy: IndexStrategy = IndexStrategy.UNIQUE


@dataclass(frozen=True)
class CoreMetadata:
    """The parts of core metadata the resolver needs."""

    name: NormalizedName
    version: Version
    requires_dist: tuple[str, ...] = ()
    requires_python: str | None = None
    provides_extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class LockedFile:
    """A distribution file that a pin may be installed from."""

    filename: str
    sha256: str
    kind: DistKind
    url: str = ""  # redacted (no credentials); empty when unknown
    size: int | None = None
    index: str = ""
    requires_python: str | None = None
    yanked: str | None = None
    upload_time: str | None = None
    # Targets (by name) for which this file is the one to install.
    targets: tuple[str, ...] = ()


@dataclass(frozen=True)
class LockedPackage:
    """One pin of the lock."""

    name: NormalizedName
    version: Version
    files: tuple[LockedFile, ...]
    # PEP 508 marker selecting the targets this pin serves; None: all.
    marker: str | None = None
    # Why the pin is there: the names of its dependents, or "-r file" for
    # top-level requirements (pip-compile's "# via").
    via: tuple[str, ...] = ()
    targets: tuple[str, ...] = ()
    build_only: bool = False
    # A direct reference (PEP 440 "name @ url"), redacted.
    direct_url: str | None = None


@dataclass(frozen=True)
class Lock:
    """The resolved, hashed closure for a set of targets."""

    packages: tuple[LockedPackage, ...]
    targets: tuple[str, ...] = ()
    # The top-level requirement lines as written by the user.
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    indexes: IndexSettings = field(default_factory=IndexSettings)
    allow_prereleases: bool = False
    # pip's --only-binary / --no-binary the lock was made with (normalized
    # names or ":all:"), so that installing from it chooses the same files.
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()


@dataclass(frozen=True)
class BundleArtifact:
    """One file in a bundle's ``files/`` directory, as the manifest has it."""

    filename: str
    project: NormalizedName
    version: str
    sha256: str
    size: int
    kind: DistKind
    origin: str = ""  # redacted index URL or index name
    targets: tuple[str, ...] = ()
    build_only: bool = False
    requires_python: str | None = None
    yanked: str | None = None
    upload_time: str | None = None
    # sha256 of the PEP 658 sidecar ``<filename>.metadata``, if one exists.
    metadata_sha256: str | None = None
    needed_by: tuple[str, ...] = ()  # the "via" of its pin


# The lock files a bundle may carry at its top (pip's format, PEP 751).
REQUIREMENTS_LOCK = "requirements.txt"
PYLOCK_LOCK = "pylock.toml"
# What ``bundle download`` writes, and what a manifest that lists no lock
# files (written before bundle.json listed them) stands for.
BUNDLE_LOCK_FILES: tuple[str, ...] = (PYLOCK_LOCK, REQUIREMENTS_LOCK)


@dataclass(frozen=True)
class Manifest:
    """``bundle.json``: what the bundle holds and why."""

    artifacts: tuple[BundleArtifact, ...]
    packages: tuple[LockedPackage, ...]
    targets: tuple[str, ...]
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    allow_prereleases: bool = False
    created_by: str = ""
    format_version: int = 1
    # The lock files at the top of the bundle (``bundle download`` writes
    # both); the gate fails when one of them is missing.
    lock_files: tuple[str, ...] = BUNDLE_LOCK_FILES
    # Whether the bundle carries its SBOM (``bundle download`` writes it);
    # the gate fails when it is missing or disagrees with the manifest.
    sbom: bool = False
    # The lock's --only-binary / --no-binary, which its requirements.txt
    # carries (the lock files are rendered from the manifest alone).
    only_binary: tuple[str, ...] = ()
    no_binary: tuple[str, ...] = ()


# pip's STRONG_HASHES, with the length of each hex digest.
HASH_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


@dataclass(frozen=True)
class LockFileRef:
    """A file a lock names outright (PEP 751 locks do; requirements files
    only give hashes)."""

    filename: str
    url: str  # absolute (file:// for paths relative to the lock)
    sha256: str
    size: int | None = None
    upload_time: str | None = None


@dataclass(frozen=True)
class LockPin:
    """One pinned requirement of a hashed requirements file."""

    name: NormalizedName
    version: Version
    hashes: tuple[str, ...]  # "sha256:<hex>" (sha384/sha512 kept as written)
    marker: str | None = None
    via: tuple[str, ...] = ()  # from the "# via" annotations, when present
    source: str = ""  # "requirements.txt:12"
    url: str | None = None  # a direct reference
    build_only: bool = False  # listed under the build dependencies section
    files: tuple[LockFileRef, ...] = ()  # where the lock says the files are
    # PEP 751 packages.requires-python: an installer must refuse a Python
    # it does not admit.
    requires_python: str | None = None


@dataclass(frozen=True)
class LockInput:
    """What a hashed requirements file pins, and where from."""

    pins: tuple[LockPin, ...]
    indexes: IndexSettings
    path: str
    only_binary: frozenset[str] = frozenset()
    no_binary: frozenset[str] = frozenset()
    # The targets the lock was made for (bundler's "# targets:" header line);
    # empty for locks written by other tools.
    targets: tuple[str, ...] = ()
    # PEP 751's lock-wide environments (markers, one of which must hold)
    # and requires-python: what an installer must refuse to install for.
    environments: tuple[str, ...] = ()
    requires_python: str | None = None
