"""The S3 destination: a static index on S3-compatible object storage
(``s3://bucket/prefix``), served to installers by a CDN or nginx in front.

The layout under the prefix is a bundle's: ``files/`` (each file with its
PEP 658 sidecar) and ``simple/<project>/index.html`` + ``index.json`` with
the root pages.  Files are uploaded before any page lists them, and no
object is ever overwritten with other bytes: files are created with
``If-None-Match: *``, pages replaced with ``If-Match`` on the ETag read.
Two publishers that race on a page therefore merge: the one that loses
(412 Precondition Failed) reads the page again, adds its files and retries.
The bucket itself (client, retries, conditional writes) is
``bundler.publish.s3client``.
"""

from __future__ import annotations

import html.parser
import json
import os
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, METADATA_SUFFIX, PAGE_HTML, PAGE_JSON, SIMPLE_DIR
from bundler.bundle.pagewriter import (
    listed_artifact,
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from bundler.errors import BundlerError, MultipleErrors, check_url
from bundler.models import BundleArtifact, IndexFile
from bundler.publish.destination import Held, PublishFile
from bundler.publish.s3client import (
    DEFAULT_ATTEMPTS,
    DEFAULT_WORKERS,
    ENDPOINT_ENV,
    INSTALL_HINT,
    SHA256_META,
    PreconditionFailed,
    S3Bucket,
    S3Object,
    parse_s3_url,
)
from bundler.reporting import Reporter
from bundler.spec.pages import JSON_CONTENT_TYPE, InvalidPage, parse_project_page

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "INSTALL_HINT",
    "ConflictingFile",
    "S3Destination",
    "merge_artifacts",
    "page_artifacts",
    "parse_s3_url",
    "root_projects",
]

HTML_CONTENT_TYPE = "text/html; charset=utf-8"
FILE_CONTENT_TYPE = "application/octet-stream"
# PEP 658: the sidecar is the wheel's METADATA, an email-style text file.
METADATA_CONTENT_TYPE = "text/plain; charset=utf-8"
# Rounds of writing one object before giving up (each lost round means
# another publisher wrote it in between).
WRITE_ROUNDS = 20


# --- pages: pure -------------------------------------------------------------------


class ConflictingFile(BundlerError):
    """The destination has a file (an object, or a page's entry) with other
    bytes than the bundle's: publishing would replace bytes (exit 1)."""

    def __init__(self, where: str, filename: str, held: str, ours: str) -> None:
        super().__init__(
            f"{where}: {filename} is there with sha256 {held}, the bundle's has {ours}",
            hint="a published file is never replaced; publish a new version instead",
        )
        self.filename = filename


def _artifact(f: IndexFile, page: str) -> BundleArtifact:
    sha256 = f.hashes.get("sha256")
    if not sha256:
        raise InvalidPage(page, f"{f.filename} is listed without a sha256 hash")
    core = f.core_metadata or {}
    return listed_artifact(f, sha256=sha256, size=f.size or 0, metadata_sha256=core.get("sha256"))


def page_artifacts(
    content: bytes, content_type: str | None, page: str, project: NormalizedName
) -> list[BundleArtifact]:
    """The files a project page lists, as artifacts to render again.
    ``page`` is the page's http(s) URL (links are relative to it).  A page
    with an entry that cannot be read is refused: rewriting it would drop
    that entry."""
    parsed = parse_project_page(content, content_type, page, project, page)
    artifacts = [_artifact(f, page) for f in parsed.files]
    if len(artifacts) != _entry_count(content):
        raise InvalidPage(page, "it lists files that are not distributions of the project")
    return artifacts


def _entry_count(content: bytes) -> int:
    """How many files a page lists, counted without parsing them."""
    if content.lstrip()[:1] == b"{":
        try:
            return len(json.loads(content)["files"])
        except (ValueError, KeyError, TypeError):
            return -1
    parser = _Anchors()
    parser.feed(content.decode("utf-8", "replace"))
    return len(parser.names)


def merge_artifacts(
    held: Iterable[BundleArtifact], new: Iterable[BundleArtifact], where: str
) -> list[BundleArtifact]:
    """The union of what a page lists and the new files, by filename.  A
    listed entry is kept as it is (its yanked flag, its upload time); the
    same filename with another hash is a ``ConflictingFile``."""
    merged = {a.filename: a for a in held}
    problems: list[BundlerError] = []
    for a in new:
        known = merged.get(a.filename)
        if known is None:
            merged[a.filename] = a
        elif known.sha256 != a.sha256:
            problems.append(ConflictingFile(where, a.filename, known.sha256, a.sha256))
    if problems:
        raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
    return sorted(merged.values(), key=lambda a: a.filename)


class _Anchors(html.parser.HTMLParser):
    """The text of every link of a page (PEP 503: a root page's project names)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.names: list[str] = []
        self._in_anchor = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_anchor = tag == "a"

    def handle_endtag(self, tag: str) -> None:
        self._in_anchor = False

    def handle_data(self, data: str) -> None:
        if self._in_anchor and data.strip():
            self.names.append(data.strip())


def root_projects(content: bytes, page: str) -> set[NormalizedName]:
    """The projects a root page (HTML or PEP 691 JSON) lists."""
    text = content.decode("utf-8", "replace")
    if text.lstrip().startswith("{"):
        try:
            doc = json.loads(text)
            names = [p["name"] for p in doc["projects"]]
        except (ValueError, KeyError, TypeError) as err:
            raise InvalidPage(page, f"not a PEP 691 root page: {err}") from err
    else:
        parser = _Anchors()
        parser.feed(text)
        names = parser.names
    return {canonicalize_name(str(n)) for n in names}


# --- the destination -----------------------------------------------------------------


class S3Destination:
    """``s3://bucket/prefix`` on AWS S3 or any S3-compatible store.

    ``endpoint_url`` (else ``AWS_ENDPOINT_URL``, else AWS) is where the
    S3 API is; ``read_url`` is the simple-index URL installers read the
    published files from (a CDN or nginx in front), for the post-publish
    gate.  ``client`` is a ready boto3 S3 client (its endpoint and
    credentials are then its own).
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        read_url: str | None = None,
        client: S3Client | None = None,
        workers: int = DEFAULT_WORKERS,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.5,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        location = parse_s3_url(url)
        env = os.environ if environ is None else environ
        if client is not None:
            endpoint_url = client.meta.endpoint_url
        endpoint = endpoint_url or env.get(ENDPOINT_ENV) or None
        if endpoint is not None:
            check_url(endpoint, "the S3 endpoint URL")
        if read_url is not None:
            check_url(read_url, "the read URL")
        self.location = location
        self._read_url = read_url
        self._bucket = S3Bucket(
            location,
            endpoint=endpoint,
            client=client,
            workers=workers,
            attempts=attempts,
            backoff=backoff,
        )
        # Pages read by ``held`` (key -> object, None: absent), the first
        # guess of ``put``'s read-merge-write; a stale one costs a 412.
        self._seen: dict[str, S3Object | None] = {}

    # -- the protocol --

    def describe(self) -> str:
        return self._bucket.describe()

    def read_url(self) -> str | None:
        return self._read_url

    def held(self, projects: Sequence[str]) -> Mapping[str, Held]:
        """The files the project pages under the prefix list, with the
        hashes the pages give (the pages are what installers see).  A file
        counts only when both of its project's pages list it and both root
        pages list the project: what a publish that failed among the pages
        left unlisted is published again (its bytes are already there, so
        only the pages are written)."""
        names = sorted({canonicalize_name(p) for p in projects})
        roots = [self.location.key(SIMPLE_DIR, page) for page in (PAGE_JSON, PAGE_HTML)]
        keys = [self._page_key(n, page) for n in names for page in (PAGE_JSON, PAGE_HTML)]
        keys += roots
        read = dict(zip(keys, self._bucket.map(self._bucket.get, keys), strict=True))
        self._seen.update(read)
        rooted = [
            root_projects(obj.body, self._bucket.where(key)) if obj is not None else set()
            for key, obj in ((key, read[key]) for key in roots)
        ]
        held: dict[str, Held] = {}
        for name in names:
            if not all(name in listed for listed in rooted):
                continue
            pages = []
            for page in (PAGE_JSON, PAGE_HTML):
                key = self._page_key(name, page)
                obj = read[key]
                url = self._bucket.object_url(key)
                listed = page_artifacts(obj.body, obj.content_type, url, name) if obj else []
                pages.append({(a.filename, a.sha256): a for a in listed})
            for both in pages[0].keys() & pages[1].keys():
                a = pages[0][both]
                held[a.filename] = Held(
                    a.filename, a.sha256, self._bucket.object_url(self._file_key(a))
                )
        return held

    def put(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        """Upload every file and sidecar, then merge the project pages, then
        the root pages: a reader never sees a page link a missing file."""
        if not files:
            return
        self._bucket.reporter = reporter
        reporter.stage("uploading")
        self._bucket.map(lambda f: self._upload(f, reporter), files)
        reporter.stage("writing pages")
        by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
        for f in files:
            by_project[f.artifact.project].append(f.artifact)
        jobs = [
            (self._page_key(project, page), project, items)
            for project, items in sorted(by_project.items())
            for page in (PAGE_JSON, PAGE_HTML)
        ]
        self._bucket.map(lambda job: self._merge_project_page(*job), jobs)
        for page in (PAGE_JSON, PAGE_HTML):
            self._merge_root_page(self.location.key(SIMPLE_DIR, page), set(by_project))

    # -- keys and names --

    def _page_key(self, project: str, page: str) -> str:
        return self.location.key(SIMPLE_DIR, project, page)

    def _file_key(self, a: BundleArtifact, suffix: str = "") -> str:
        return self.location.key(FILES_DIR, a.filename + suffix)

    # -- files --

    def _upload(self, f: PublishFile, reporter: Reporter) -> None:
        a = f.artifact
        reporter.task_start(a.filename, a.filename, a.size)
        ok = False
        try:
            self._create(self._file_key(a), f.path, FILE_CONTENT_TYPE, a.sha256, a.filename)
            if f.metadata is not None and a.metadata_sha256:
                key = self._file_key(a, METADATA_SUFFIX)
                name = a.filename + METADATA_SUFFIX
                self._create(key, f.metadata, METADATA_CONTENT_TYPE, a.metadata_sha256, name)
            reporter.task_advance(a.filename, a.size)
            ok = True
        except OSError as err:
            raise BundlerError(f"cannot read {err.filename or f.path}: {err.strerror}") from err
        finally:
            reporter.task_done(a.filename, ok)

    def _create(self, key: str, path: Path, content_type: str, sha256: str, name: str) -> None:
        """Create ``key`` from ``path`` unless it exists; an object already
        there is fine with the same sha256 and refused with another."""
        for _ in range(WRITE_ROUNDS):
            # Without conditional writes, look first (a race remains).
            there = None if self._bucket.conditional else self._bucket.sha256(key)
            if there is None:
                try:
                    # Never replace bytes: create only.
                    meta = {SHA256_META: sha256}
                    self._bucket.write(key, path, content_type, meta, "*", sha256=sha256)
                    return
                except PreconditionFailed:
                    there = self._bucket.sha256(key)
            if there is None:
                continue  # a racing upload failed, or conditions were just dropped
            if there != sha256:
                raise ConflictingFile(self._bucket.where(key), name, there, sha256)
            return
        raise BundlerError(
            f"{self._bucket.where(key)}: could not be created; run the publish again"
        )

    # -- pages --

    def _merge_project_page(
        self, key: str, project: NormalizedName, new: Sequence[BundleArtifact]
    ) -> None:
        url, where = self._bucket.object_url(key), self._bucket.where(key)
        wanted = {(a.filename, a.sha256) for a in new}

        def listed(obj: S3Object | None) -> list[BundleArtifact]:
            return page_artifacts(obj.body, obj.content_type, url, project) if obj else []

        def covers(obj: S3Object) -> bool:
            return wanted <= {(a.filename, a.sha256) for a in listed(obj)}

        def render(obj: S3Object | None) -> tuple[bytes, str]:
            items = merge_artifacts(listed(obj), new, where)
            if key.endswith(PAGE_JSON):
                return render_project_json(project, items), JSON_CONTENT_TYPE
            return render_project_html(project, items), HTML_CONTENT_TYPE

        self._read_merge_write(key, covers, render)

    def _merge_root_page(self, key: str, projects: set[NormalizedName]) -> None:
        def listed(obj: S3Object | None) -> set[NormalizedName]:
            return root_projects(obj.body, self._bucket.where(key)) if obj else set()

        def render(obj: S3Object | None) -> tuple[bytes, str]:
            names = projects | listed(obj)
            if key.endswith(PAGE_JSON):
                return render_root_json(names), JSON_CONTENT_TYPE
            return render_root_html(names), HTML_CONTENT_TYPE

        self._read_merge_write(key, lambda obj: projects <= listed(obj), render)

    def _read_merge_write(
        self,
        key: str,
        covers: Callable[[S3Object], bool],
        render: Callable[[S3Object | None], tuple[bytes, str]],
    ) -> None:
        """Read the page, merge, and write it only if nobody wrote it since
        (If-Match on the ETag read, If-None-Match: * for a new page); when
        somebody did, read it again and merge again.  A page that already
        ``covers`` what is published is left as it is."""
        obj = self._seen.pop(key) if key in self._seen else self._bucket.get(key)
        for _ in range(WRITE_ROUNDS):
            if obj is not None and covers(obj):
                return
            body, content_type = render(obj)
            try:
                self._bucket.write(key, body, content_type, {}, obj.etag if obj else "*")
            except PreconditionFailed:
                obj = self._bucket.get(key)
                continue
            if self._bucket.conditional:
                return
            obj = self._bucket.get(key)  # read back: another write may have replaced ours
        raise BundlerError(
            f"{self._bucket.where(key)}: other publishers kept writing it; gave up after"
            f" {WRITE_ROUNDS} rounds",
            hint="run the publish again: it merges with what is there",
        )
