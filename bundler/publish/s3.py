"""The S3 destination: a static index on S3-compatible object storage
(``s3://bucket/prefix``), served to installers by a CDN or nginx in front.

The layout under the prefix is a bundle's: ``files/`` (each file with its
PEP 658 sidecar) and ``simple/<project>/index.html`` + ``index.json`` with
the root pages.  Files are uploaded before any page lists them, and no
object is ever overwritten with other bytes: files are created with
``If-None-Match: *``, pages replaced with ``If-Match`` on the ETag read.
Two publishers that race on a page therefore merge: the one that loses
(412 Precondition Failed) reads the page again, adds its files and retries.

boto3 is an optional dependency (``bundlegate[s3]``), imported only when
an ``s3://`` destination is used; the endpoint and credentials come from
where boto3 looks for them (``AWS_ENDPOINT_URL``, the standard AWS chain).
"""

from __future__ import annotations

__all__ = ["S3Destination", "S3Location", "merge_artifacts", "parse_s3_url"]

import hashlib
import html.parser
import json
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, METADATA_SUFFIX, PAGE_HTML, PAGE_JSON, SIMPLE_DIR
from bundler.bundle.pagewriter import (
    listed_artifact,
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from bundler.errors import BundlerError, MultipleErrors, NetworkError, UsageError, check_url
from bundler.models import BundleArtifact, IndexFile
from bundler.publish.destination import Held, PublishFile
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.pages import JSON_CONTENT_TYPE, InvalidPage, parse_project_page

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

S3_SCHEME = "s3://"
INSTALL_HINT = "pip install 'bundlegate[s3]'"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
# User metadata (``x-amz-meta-sha256``) every uploaded file carries, so that
# a file already there is compared without downloading it.
SHA256_META = "sha256"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
FILE_CONTENT_TYPE = "application/octet-stream"
# PEP 658: the sidecar is the wheel's METADATA, an email-style text file.
METADATA_CONTENT_TYPE = "text/plain; charset=utf-8"
DEFAULT_WORKERS = 16
DEFAULT_ATTEMPTS = 5
# Rounds of writing one object before giving up (each lost round means
# another publisher wrote it in between).
WRITE_ROUNDS = 20

_T = TypeVar("_T")


@dataclass(frozen=True)
class S3Location:
    """A bucket and a key prefix (empty, or ending in ``/``)."""

    bucket: str
    prefix: str

    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.prefix}"


def parse_s3_url(url: str) -> S3Location:
    """``s3://bucket/prefix`` as a location; a usage error names what is wrong."""
    if not url.startswith(S3_SCHEME):
        raise UsageError(f"{url!r} is not an s3:// URL", hint="write it as s3://bucket/prefix")
    bucket, _, prefix = url[len(S3_SCHEME) :].partition("/")
    # S3 bucket naming rules: 3-63 of lowercase letters, digits, dots, dashes.
    if not (3 <= len(bucket) <= 63) or not all(c.isalnum() or c in ".-" for c in bucket):
        raise UsageError(
            f"{url!r}: {bucket!r} is not an S3 bucket name",
            hint="write it as s3://bucket/prefix (3-63 letters, digits, dots and dashes)",
        )
    parts = [p for p in prefix.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise UsageError(f"{url!r}: the prefix may not contain '.' or '..'")
    return S3Location(bucket, "".join(p + "/" for p in parts))


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


@dataclass(frozen=True)
class _Object:
    """An object read from the bucket: its bytes and the ETag to write on."""

    body: bytes
    etag: str
    content_type: str | None


class _PreconditionFailed(Exception):
    """A conditional write lost: another publisher wrote the object first."""


class _Unsupported(Exception):
    """The server does not implement conditional writes (501)."""


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
        self.location = parse_s3_url(url)
        env = os.environ if environ is None else environ
        if client is not None:
            endpoint_url = client.meta.endpoint_url
        self._endpoint = endpoint_url or env.get(ENDPOINT_ENV) or None
        if self._endpoint is not None:
            check_url(self._endpoint, "the S3 endpoint URL")
        if read_url is not None:
            check_url(read_url, "the read URL")
        self._read_url = read_url
        self._client = client
        self._client_lock = threading.Lock()
        self._workers = max(1, workers)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        # Pages read by ``held`` (key -> object, None: absent), the first
        # guess of ``put``'s read-merge-write; a stale one costs a 412.
        self._seen: dict[str, _Object | None] = {}
        self._reporter = NULL_REPORTER
        # Conditional writes until the server says it has none (501).
        self._conditional = True

    # -- the protocol --

    def describe(self) -> str:
        where = redact_url(self._endpoint) if self._endpoint else "AWS"
        return f"{self.location} ({where})"

    def read_url(self) -> str | None:
        return self._read_url

    def held(self, projects: Sequence[str]) -> Mapping[str, Held]:
        """The files the project pages under the prefix list, with the
        hashes the pages give (the pages are what installers see)."""
        names = sorted({canonicalize_name(p) for p in projects})
        keys = [self._page_key(n, page) for n in names for page in (PAGE_JSON, PAGE_HTML)]
        read = dict(zip(keys, self._map(self._get, keys), strict=True))
        self._seen.update(read)
        held: dict[str, Held] = {}
        for name in names:
            key = self._page_key(name, PAGE_JSON)
            obj = read[key]
            if obj is None:
                continue
            for a in page_artifacts(obj.body, obj.content_type, self._object_url(key), name):
                held[a.filename] = Held(a.filename, a.sha256, self._object_url(self._file_key(a)))
        return held

    def put(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        """Upload every file and sidecar, then merge the project pages, then
        the root pages: a reader never sees a page link a missing file."""
        if not files:
            return
        self._reporter = reporter
        reporter.stage("uploading")
        self._map(lambda f: self._upload(f, reporter), files)
        reporter.stage("writing pages")
        by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
        for f in files:
            by_project[f.artifact.project].append(f.artifact)
        jobs = [
            (self._page_key(project, page), project, items)
            for project, items in sorted(by_project.items())
            for page in (PAGE_JSON, PAGE_HTML)
        ]
        self._map(lambda job: self._merge_project_page(*job), jobs)
        for page in (PAGE_JSON, PAGE_HTML):
            self._merge_root_page(self.location.key(SIMPLE_DIR, page), set(by_project))

    # -- keys and names --

    def _page_key(self, project: str, page: str) -> str:
        return self.location.key(SIMPLE_DIR, project, page)

    def _file_key(self, a: BundleArtifact, suffix: str = "") -> str:
        return self.location.key(FILES_DIR, a.filename + suffix)

    def _where(self, key: str) -> str:
        return f"{S3_SCHEME}{self.location.bucket}/{key}"

    def _object_url(self, key: str) -> str:
        base = (self._endpoint or "https://s3.amazonaws.com").rstrip("/")
        return f"{redact_url(base)}/{self.location.bucket}/{quote(key)}"

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
            there = None if self._conditional else self._held_sha256(key)
            if there is None:
                try:
                    # Never replace bytes: create only.
                    self._write(key, path, content_type, {SHA256_META: sha256}, "*")
                    return
                except _PreconditionFailed:
                    there = self._held_sha256(key)
            if there is None:
                continue  # a racing upload failed, or conditions were just dropped
            if there != sha256:
                raise ConflictingFile(self._where(key), name, there, sha256)
            return
        raise BundlerError(f"{self._where(key)}: could not be created; run the publish again")

    def _write(
        self,
        key: str,
        body: Path | bytes,
        content_type: str,
        metadata: Mapping[str, str],
        condition: str,
    ) -> None:
        """Put ``body`` at ``key`` if ``condition`` holds: ``"*"`` creates
        only (If-None-Match), an ETag replaces only that object (If-Match).
        A server that does not implement conditional writes is written
        without them from then on (with a warning), and the caller is told
        to look again (``_PreconditionFailed``)."""
        s3, bucket, meta = self._s3(), self.location.bucket, dict(metadata)

        def send() -> None:
            with body.open("rb") if isinstance(body, Path) else nullcontext(body) as data:
                if not self._conditional:
                    s3.put_object(
                        Bucket=bucket, Key=key, Body=data, ContentType=content_type, Metadata=meta
                    )
                elif condition == "*":
                    s3.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=data,
                        ContentType=content_type,
                        Metadata=meta,
                        IfNoneMatch="*",
                    )
                else:
                    s3.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=data,
                        ContentType=content_type,
                        Metadata=meta,
                        IfMatch=condition,
                    )

        try:
            self._call(send, key, conditional=self._conditional)
        except _Unsupported:
            with self._client_lock:
                warn, self._conditional = self._conditional, False
            if warn:
                self._reporter.warning(
                    f"{self.describe()} does not support conditional writes: pages are"
                    " written and read back, but two publishers at once may still lose"
                    " each other's files; publish to it from one place at a time"
                )
            raise _PreconditionFailed from None

    def _held_sha256(self, key: str) -> str | None:
        """The sha256 of an object (its ``x-amz-meta-sha256``, else its
        bytes'), or None when there is none."""

        def head() -> Any:
            try:
                return self._s3().head_object(Bucket=self.location.bucket, Key=key)
            except self._errors().ClientError as err:
                if _status(err) == 404:
                    return None
                raise

        found = self._call(head, key)
        if found is None:
            return None
        recorded = found.get("Metadata", {}).get(SHA256_META)
        if recorded:
            return str(recorded)
        obj = self._get(key)
        return None if obj is None else hashlib.sha256(obj.body).hexdigest()

    # -- pages --

    def _merge_project_page(
        self, key: str, project: NormalizedName, new: Sequence[BundleArtifact]
    ) -> None:
        url, where = self._object_url(key), self._where(key)
        wanted = {(a.filename, a.sha256) for a in new}

        def listed(obj: _Object | None) -> list[BundleArtifact]:
            return page_artifacts(obj.body, obj.content_type, url, project) if obj else []

        def covers(obj: _Object) -> bool:
            return wanted <= {(a.filename, a.sha256) for a in listed(obj)}

        def render(obj: _Object | None) -> tuple[bytes, str]:
            items = merge_artifacts(listed(obj), new, where)
            if key.endswith(PAGE_JSON):
                return render_project_json(project, items), JSON_CONTENT_TYPE
            return render_project_html(project, items), HTML_CONTENT_TYPE

        self._read_merge_write(key, covers, render)

    def _merge_root_page(self, key: str, projects: set[NormalizedName]) -> None:
        def listed(obj: _Object | None) -> set[NormalizedName]:
            return root_projects(obj.body, self._where(key)) if obj else set()

        def render(obj: _Object | None) -> tuple[bytes, str]:
            names = projects | listed(obj)
            if key.endswith(PAGE_JSON):
                return render_root_json(names), JSON_CONTENT_TYPE
            return render_root_html(names), HTML_CONTENT_TYPE

        self._read_merge_write(key, lambda obj: projects <= listed(obj), render)

    def _read_merge_write(
        self,
        key: str,
        covers: Callable[[_Object], bool],
        render: Callable[[_Object | None], tuple[bytes, str]],
    ) -> None:
        """Read the page, merge, and write it only if nobody wrote it since
        (If-Match on the ETag read, If-None-Match: * for a new page); when
        somebody did, read it again and merge again.  A page that already
        ``covers`` what is published is left as it is."""
        obj = self._seen.pop(key) if key in self._seen else self._get(key)
        for _ in range(WRITE_ROUNDS):
            if obj is not None and covers(obj):
                return
            body, content_type = render(obj)
            try:
                self._write(key, body, content_type, {}, obj.etag if obj else "*")
            except _PreconditionFailed:
                obj = self._get(key)
                continue
            if self._conditional:
                return
            obj = self._get(key)  # read back: another write may have replaced ours
        raise BundlerError(
            f"{self._where(key)}: other publishers kept writing it; gave up after"
            f" {WRITE_ROUNDS} rounds",
            hint="run the publish again: it merges with what is there",
        )

    def _get(self, key: str) -> _Object | None:
        """The object at ``key``, or None when there is none."""

        def fetch() -> _Object | None:
            try:
                got = self._s3().get_object(Bucket=self.location.bucket, Key=key)
            except self._errors().ClientError as err:
                if _status(err) == 404:
                    return None
                raise
            return _Object(got["Body"].read(), got["ETag"], got.get("ContentType"))

        return self._call(fetch, key)

    # -- boto3 --

    def _s3(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                self._client = _make_client(self._endpoint, self._workers)
            return self._client

    @staticmethod
    def _errors() -> Any:
        import botocore.exceptions

        return botocore.exceptions

    def _map(self, fn: Callable[[Any], _T], items: Sequence[Any]) -> list[_T]:
        """``fn`` over ``items`` on the thread pool (boto3 clients are
        thread-safe); every failure is collected and raised together."""
        self._s3()  # one client, made before the threads share it
        if len(items) < 2:
            return [fn(item) for item in items]
        results: list[_T] = []
        problems: list[BundlerError] = []
        with ThreadPoolExecutor(self._workers, thread_name_prefix="bundler-s3") as pool:
            for done in [pool.submit(fn, item) for item in items]:
                try:
                    results.append(done.result())
                except MultipleErrors as err:
                    problems.extend(err.errors)
                except BundlerError as err:
                    problems.append(err)
        # A configuration problem (no credentials, no bucket) fails every
        # request alike: say it once.
        problems = list({str(p): p for p in problems}.values())
        if problems:
            raise problems[0] if len(problems) == 1 else MultipleErrors(problems)
        return results

    def _call(self, fn: Callable[[], _T], key: str, *, conditional: bool = False) -> _T:
        """Run one request; network errors, 429 and 5xx are tried again with
        backoff (each retry reported); for a ``conditional`` write, a lost
        race raises ``_PreconditionFailed`` and a server without conditional
        writes ``_Unsupported``; anything else is a ``BundlerError``."""
        errors = self._errors()
        host = urlsplit(self._endpoint or "https://s3.amazonaws.com").netloc.rpartition("@")[2]
        for attempt in range(1, self._attempts + 1):
            try:
                return fn()
            except errors.NoCredentialsError as err:
                raise UsageError(
                    f"{self.location}: no AWS credentials found",
                    hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE,"
                    " or another source of the standard AWS chain",
                ) from err
            except _config_errors() as err:
                raise UsageError(f"{self.location}: {err}") from err
            except errors.ClientError as err:
                status = _status(err)
                code = err.response.get("Error", {}).get("Code", "")
                # 409: AWS's answer to a conditional write racing another.
                if conditional and (status in (409, 412) or code == "PreconditionFailed"):
                    raise _PreconditionFailed from err
                if conditional and (status == 501 or code == "NotImplemented"):
                    raise _Unsupported from err
                problem = f"{status} {code}".strip()
                if not (status == 429 or status >= 500) or attempt == self._attempts:
                    raise _client_error(self._where(key), status, code, err) from err
            except (errors.HTTPClientError, errors.ConnectionError) as err:
                problem = type(err).__name__
                if attempt == self._attempts:
                    raise NetworkError(
                        self._where(key), f"{problem} after {attempt} attempts"
                    ) from err
            except errors.BotoCoreError as err:
                raise NetworkError(self._where(key), str(err)) from err
            delay = self._backoff * 2 ** (attempt - 1)
            self._reporter.retry(host, problem, delay, attempt + 1, self._attempts)
            time.sleep(delay)
        raise AssertionError("unreachable")


def _config_errors() -> tuple[type[Exception], ...]:
    """botocore's errors that mean the AWS configuration is wrong (exit 2)."""
    import botocore.exceptions as e

    return (
        e.PartialCredentialsError,
        e.ProfileNotFound,
        e.NoRegionError,
        e.InvalidRegionError,
        e.InvalidConfigError,
        e.ConfigParseError,
    )


def _status(err: Any) -> int:
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def _client_error(where: str, status: int, code: str, err: Any) -> BundlerError:
    message = err.response.get("Error", {}).get("Message") or code
    if code in ("NoSuchBucket",):
        return UsageError(f"{where}: no such bucket", hint="create the bucket, or fix the URL")
    if status == 403 or code in ("InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied"):
        return UsageError(
            f"{where}: access denied ({code})",
            hint="check the AWS credentials and that they may read and write the prefix",
        )
    return NetworkError(where, f"{status} {message}".strip(), status=status or None)


def _make_client(endpoint: str | None, workers: int) -> S3Client:
    try:
        import boto3
        from botocore.config import Config
    except ImportError as err:
        raise UsageError(
            "publishing to s3:// needs boto3, which is not installed",
            hint=f"install it: {INSTALL_HINT}",
        ) from err
    config = Config(
        max_pool_connections=workers,
        # Retries are ours (reported, one budget); path-style works everywhere.
        retries={"total_max_attempts": 1},
        s3={"addressing_style": "path"} if endpoint else {},
    )
    try:
        # A session of its own: boto3's default one keeps the credentials it
        # found first for the life of the process.
        return boto3.session.Session().client("s3", endpoint_url=endpoint, config=config)
    except _config_errors() as err:
        raise UsageError(f"the S3 client: {err}") from err
