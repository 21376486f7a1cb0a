"""What every publish destination offers the publisher.

The publisher decides (which files to send, which to skip, which to refuse)
from what a destination says it already holds; a destination only reads and
writes.  Each destination (a directory, an upload API, devpi, S3) is one
class with these few methods, so the plan, the refusal rules and the
post-publish gate are written once.
"""

from __future__ import annotations

__all__ = ["Destination", "Held", "PublishFile"]

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from bundler.models import BundleArtifact
from bundler.reporting import Reporter


@dataclass(frozen=True)
class PublishFile:
    """One bundle file to publish: the manifest's record, the file itself,
    and its PEP 658 metadata sidecar when the bundle has one."""

    artifact: BundleArtifact
    path: Path
    metadata: Path | None = None


@dataclass(frozen=True)
class Held:
    """A file a destination already has.  ``sha256`` is None when the
    destination lists the file without a hash it can be trusted for (the
    publisher then fetches and hashes it before deciding)."""

    filename: str
    sha256: str | None
    url: str | None = None


class Destination(Protocol):
    """A place bundles are published to."""

    def describe(self) -> str:
        """The destination for messages (credentials redacted)."""
        ...

    def read_url(self) -> str | None:
        """The simple-index URL installers read the published files from
        (what the post-publish gate checks), if the destination knows one."""
        ...

    def held(self, projects: Sequence[str]) -> Mapping[str, Held]:
        """The files the destination already holds for ``projects``
        (normalized names), by filename."""
        ...

    def put(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        """Publish ``files`` (none of which the destination holds) so that
        every file and every page is complete before a reader can see it
        listed; on failure, what readers saw before stays as it was."""
        ...
