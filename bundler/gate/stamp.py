"""The verify stamp: what ``bundle verify`` proved about a bundle, kept in
the bundle (``.bundle-verified.json``) so that ``bundle publish`` carries
only a bundle that passed the gate, and only as it was when it passed.

The stamp names the manifest by its sha256: a bundle changed since (``bundle
add``, another ``download``) has a stale stamp.  Rendering and parsing are
pure; ``write_stamp`` writes atomically.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bundler.bundle.layout import STAMP_NAME
from bundler.bundle.manifest import is_sha256_hex
from bundler.errors import BundlerError
from bundler.fsutil import atomic_write

STAMP_FORMAT = 1
STAMP_PASSED = "passed"
STAMP_FAILED = "failed"
_RESULTS = frozenset({STAMP_PASSED, STAMP_FAILED})
_REVERIFY = "run `bundle verify` on the bundle (or pass --verify)"


@dataclass(frozen=True)
class Stamp:
    """One run of the gate over one manifest."""

    manifest_sha256: str
    result: str  # "passed" | "failed"
    targets: tuple[str, ...]
    # target -> the pips that installed the bundle for it, e.g. "pip 25.0
    # (the venv's own)" (the targets with a live install only).
    pip_versions: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bundler_version: str = ""
    verified_at: str = ""  # UTC, "yyyy-mm-ddThh:mm:ssZ"

    @property
    def passed(self) -> bool:
        return self.result == STAMP_PASSED


def stamp_to_json(stamp: Stamp) -> bytes:
    doc = {
        "format": STAMP_FORMAT,
        "manifest-sha256": stamp.manifest_sha256,
        "result": stamp.result,
        "targets": list(stamp.targets),
        "pip": {name: list(pips) for name, pips in sorted(stamp.pip_versions.items())},
        "bundler": stamp.bundler_version,
        "verified-at": stamp.verified_at,
    }
    return (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode("utf-8")


def stamp_from_json(content: bytes, where: str) -> Stamp:
    """Parse a stamp; anything malformed is a ``BundlerError`` naming ``where``
    (exit 1: the bundle is not proven verified)."""
    try:
        doc: Any = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        raise BundlerError(f"{where}: not a verify stamp: {err}", hint=_REVERIFY) from err
    if not isinstance(doc, dict) or doc.get("format") != STAMP_FORMAT:
        raise BundlerError(f"{where}: not a verify stamp of format {STAMP_FORMAT}", hint=_REVERIFY)
    digest, result = doc.get("manifest-sha256"), doc.get("result")
    targets, pips = doc.get("targets"), doc.get("pip")
    if (
        not isinstance(digest, str)
        or not is_sha256_hex(digest)
        or result not in _RESULTS
        or not isinstance(targets, list)
        or not all(isinstance(t, str) for t in targets)
        or not isinstance(pips, dict)
        or not all(isinstance(v, list) for v in pips.values())
        or not all(isinstance(p, str) for v in pips.values() for p in v)
    ):
        raise BundlerError(f"{where}: a malformed verify stamp", hint=_REVERIFY)
    return Stamp(
        manifest_sha256=digest,
        result=str(result),
        targets=tuple(targets),
        pip_versions={str(k): tuple(v) for k, v in pips.items()},
        bundler_version=str(doc.get("bundler", "")),
        verified_at=str(doc.get("verified-at", "")),
    )


def write_stamp(bundle_dir: Path, stamp: Stamp) -> None:
    atomic_write(bundle_dir / STAMP_NAME, stamp_to_json(stamp))


def check_stamp(bundle_dir: Path, manifest_sha256: str) -> Stamp:
    """The bundle's stamp when it says the gate passed over this very
    manifest; otherwise a ``BundlerError`` (exit 1) saying what is wrong."""
    path = bundle_dir / STAMP_NAME
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        raise BundlerError(
            f"{bundle_dir} has not passed `bundle verify` (no {STAMP_NAME})", hint=_REVERIFY
        ) from None
    except OSError as err:
        raise BundlerError(f"{path}: cannot be read: {err.strerror or err}") from err
    stamp = stamp_from_json(content, str(path))
    if stamp.manifest_sha256 != manifest_sha256:
        raise BundlerError(
            f"{bundle_dir}: the verify stamp is stale: bundle.json changed since"
            f" `bundle verify` ran ({stamp.verified_at or 'at an unknown time'})",
            hint=_REVERIFY,
        )
    if not stamp.passed:
        raise BundlerError(
            f"{bundle_dir} failed `bundle verify` ({stamp.verified_at or 'at an unknown time'}):"
            " a bundle that fails the gate is never published",
            hint="fix what verify reports, then verify again",
        )
    return stamp


__all__ = [
    "Stamp",
    "check_stamp",
    "stamp_from_json",
    "stamp_to_json",
    "write_stamp",
]
