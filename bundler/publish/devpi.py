"""devpi: upload to a staging index, prove it there, then promote.

devpi's own pre-production workflow (``devpi upload`` to ``user/staging``,
test, ``devpi push`` to ``user/prod``), done for a whole dependency closure:
files go to the staging index given as the destination; the publisher runs
the post-publish gate against staging, and only after it passes calls
``promote``, which pushes every release to the production index.
"""

from __future__ import annotations

__all__ = ["DevpiDestination", "PromoteFailed", "Promotion"]

import json
import re
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urljoin, urlsplit

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.index.client import HttpClient
from bundler.models import BundleArtifact
from bundler.publish.destination import Held, PublishFile
from bundler.publish.upload import UPLOAD_WORKERS, FileConflict, UploadDestination
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.filenames import parse_filename

# devpi-server: an index's simple pages are under ``+simple/``.
DEVPI_SIMPLE = "+simple/"
# devpi's index names: ``user/index``.
_INDEX_NAME = re.compile(r"[^/\s]+/[^/\s]+")


class PromoteFailed(BundlerError):
    """devpi refused to push a release to the production index."""

    def __init__(self, release: str, target: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"promoting {release} to {target}: {reason}", hint=hint)
        self.release = release
        self.target = target
        self.reason = reason


@dataclass(frozen=True)
class Promotion:
    """What ``promote`` did: releases pushed whole, files copied into a
    release the production index had in part, releases already there."""

    pushed: tuple[tuple[str, str], ...] = ()
    copied: tuple[str, ...] = ()
    already: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class _Plan:
    push: tuple[tuple[NormalizedName, str], ...]
    copy: tuple[Held, ...]
    already: tuple[tuple[NormalizedName, str], ...]


def _normalized(version: str) -> str:
    try:
        return str(Version(version))
    except InvalidVersion:
        return version


def _index_root(url: str) -> str:
    """The server's root under which ``user/index`` names live: the URL
    without its last two path segments."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    prefix = "/".join(segments[:-2])
    return parts._replace(path=f"/{prefix}/" if prefix else "/", query="", fragment="").geturl()


class DevpiDestination(UploadDestination):
    """A devpi index (``https://host/user/staging/``), written by the upload
    API like any index, read from its ``+simple/`` pages (``read_url``
    defaults to ``url`` + ``+simple/``).

    ``promote_to`` (``"user/prod"``) names the production index ``promote``
    pushes releases to, with devpi's push API (a JSON POST to the staging
    index, as ``devpi push`` sends it); the user given for ``url`` must be
    allowed to upload there.  Other keywords are ``UploadDestination``'s.
    """

    def __init__(
        self,
        url: str,
        *,
        promote_to: str | None = None,
        read_url: str | None = None,
        client: HttpClient | None = None,
        environ: Mapping[str, str] | None = None,
        workers: int = UPLOAD_WORKERS,
    ) -> None:
        if promote_to is not None and not _INDEX_NAME.fullmatch(promote_to.strip("/")):
            raise UsageError(
                f"--promote-to {promote_to!r}: not a devpi index name",
                hint="name the production index as user/index, e.g. --promote-to acme/prod",
            )
        url = url.rstrip("/") + "/"
        super().__init__(url, read_url=read_url, client=client, environ=environ, workers=workers)
        self.promote_to = promote_to.strip("/") if promote_to is not None else None

    def _default_read_url(self) -> str:
        return urljoin(self._url, DEVPI_SIMPLE)

    def describe(self) -> str:
        shown = super().describe()
        return f"{shown} (promoted to {self.promote_to})" if self.promote_to else shown

    # -- the production index ----------------------------------------------------------

    def target_url(self) -> str:
        """The production index's upload URL (``promote_to``'s)."""
        if self.promote_to is None:
            raise UsageError(
                f"{self.describe()}: no production index to promote to",
                hint="give one with --promote-to user/index",
            )
        return urljoin(_index_root(self._url), f"{self.promote_to}/")

    def target_read_url(self) -> str:
        """The production index's simple pages (what installers read after
        the promotion, and what a release gate checks)."""
        return urljoin(self.target_url(), DEVPI_SIMPLE)

    def promote(
        self, releases: Iterable[tuple[str, str]], reporter: Reporter = NULL_REPORTER
    ) -> Promotion:
        """Push every release ``(project, version)`` from the staging index
        to ``promote_to``.

        Everything is checked before anything moves: a file of the same
        name with other bytes at production raises ``FileConflict`` and
        promotes nothing.  A release production has whole is left alone; a
        release it has none of is pushed (devpi copies its files and
        metadata); a release it has in part (a new wheel of a version
        promoted before) gets its missing files copied one by one, as
        devpi refuses to push onto a file a non-volatile index has.
        """
        target = self.target_url()
        plan = self._plan(sorted({(canonicalize_name(p), v) for p, v in releases}))
        failures: list[BundlerError] = []
        pushed: list[tuple[str, str]] = []
        for project, version in plan.push:
            key = f"promote {project}=={version}"
            reporter.task_start(key, f"promoting {project} {version} to {self.promote_to}")
            try:
                self._push(project, version)
            except BundlerError as err:
                reporter.task_done(key, ok=False)
                failures.append(err)
                continue
            reporter.task_done(key)
            pushed.append((project, version))
        if plan.copy:
            try:
                self._copy(plan.copy, target, reporter)
            except MultipleErrors as err:
                failures += err.errors
            except BundlerError as err:
                failures.append(err)
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise MultipleErrors(failures)
        return Promotion(
            tuple(pushed),
            tuple(sorted(h.filename for h in plan.copy)),
            tuple(plan.already),
        )

    def _plan(self, releases: Sequence[tuple[NormalizedName, str]]) -> _Plan:
        projects = sorted({p for p, _ in releases})
        staged = self._held_at(self._read_url, projects)
        there = self._held_at(self.target_read_url(), projects)
        by_release: dict[tuple[NormalizedName, str], list[Held]] = {}
        for held in staged.values():
            parsed = parse_filename(held.filename)
            if parsed is not None:
                key = (parsed.name, str(parsed.version))
                by_release.setdefault(key, []).append(held)
        push: list[tuple[NormalizedName, str]] = []
        copy: list[Held] = []
        already: list[tuple[NormalizedName, str]] = []
        problems: list[BundlerError] = []
        where = redact_url(self.target_url())
        for release in releases:
            files = by_release.get((release[0], _normalized(release[1])), [])
            if not files:
                problems.append(
                    PromoteFailed(
                        f"{release[0]} {release[1]}",
                        self.promote_to or "",
                        f"the staging index {self.describe()} has no file of it",
                        hint="publish the bundle to the staging index first",
                    )
                )
                continue
            missing = []
            for held in files:
                prod = there.get(held.filename)
                if prod is None:
                    missing.append(held)
                    continue
                expected = self._sha256_there(held) or ""
                found = self._sha256_there(prod) or ""
                if expected != found:
                    problems.append(FileConflict(held.filename, where, expected, found))
            if not missing:
                already.append(release)
            elif len(missing) == len(files):
                push.append(release)
            else:
                copy += missing
        if len(problems) == 1:
            raise problems[0]
        if problems:
            raise MultipleErrors(problems)
        return _Plan(tuple(push), tuple(copy), tuple(already))

    def _push(self, project: NormalizedName, version: str) -> None:
        """devpi-server's push (its ``pushrelease`` view): a JSON POST to the
        staging index naming the release and ``targetindex``."""
        body = json.dumps(
            {"name": project, "version": version, "targetindex": self.promote_to}
        ).encode()
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        resp = self.client.post(self._url, [body], headers)
        if 200 <= resp.status < 300:
            return
        try:
            message = str(json.loads(resp.content).get("message", ""))
        except (ValueError, AttributeError):
            message = ""
        reason = self.client.scrub(message or resp.reason)
        hint = None
        if resp.status in (401, 403):
            hint = "the user given for the staging index must be allowed to upload to"
            hint += f" {self.promote_to}"
        raise PromoteFailed(
            f"{project} {version}",
            self.promote_to or "",
            f"HTTP {resp.status}: {reason}".rstrip(": "),
            hint=hint,
        )

    def _copy(self, files: Sequence[Held], target: str, reporter: Reporter) -> None:
        """Upload staging's ``files`` to the production index, fetched
        from staging and checked against the hash staging lists."""
        with tempfile.TemporaryDirectory(prefix="bundler-promote-") as scratch:
            publish: list[PublishFile] = []
            for held in files:
                publish.append(self._fetch_staged(held, Path(scratch)))
            self._upload_all(target, publish, reporter, read_url=self.target_read_url())

    def _fetch_staged(self, held: Held, scratch: Path) -> PublishFile:
        parsed = parse_filename(held.filename)
        if held.url is None or parsed is None:
            raise PromoteFailed(held.filename, self.promote_to or "", "staging lists no URL for it")
        dest = scratch / held.filename
        sha256, size = self.client.fetch_to_file(held.url, dest, sha256=held.sha256)
        artifact = BundleArtifact(
            filename=held.filename,
            project=parsed.name,
            version=str(parsed.version),
            sha256=sha256,
            size=size,
            kind=parsed.kind,
        )
        return PublishFile(artifact, dest)
