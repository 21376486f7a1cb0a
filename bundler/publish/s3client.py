"""Objects in an S3 bucket, as the S3 destination reads and writes them.

One boto3 client, made when first used (boto3 is an optional dependency,
``bundlegate[s3]``; the endpoint and credentials come from where boto3
looks for them: ``AWS_ENDPOINT_URL``, the standard AWS chain).  Requests
are tried again with backoff on network errors, 429 and 5xx, each retry
reported; writes are conditional (``If-None-Match: *`` creates only,
``If-Match`` replaces only the object read), and a server without
conditional writes is written without them from then on, with a warning.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO, TypeVar, cast
from urllib.parse import quote, urlsplit

from bundler.errors import BundlerError, MultipleErrors, NetworkError, UsageError
from bundler.fsutil import sha256_file
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = [
    "DEFAULT_ATTEMPTS",
    "DEFAULT_WORKERS",
    "ENDPOINT_ENV",
    "INSTALL_HINT",
    "S3_SCHEME",
    "SHA256_META",
    "PreconditionFailed",
    "S3Bucket",
    "S3Location",
    "S3Object",
    "parse_s3_url",
]

S3_SCHEME = "s3://"
INSTALL_HINT = "pip install 'bundlegate[s3]'"
ENDPOINT_ENV = "AWS_ENDPOINT_URL"
# User metadata (``x-amz-meta-sha256``) every uploaded file carries, so that
# a file already there is compared without downloading it.
SHA256_META = "sha256"
DEFAULT_WORKERS = 16
DEFAULT_ATTEMPTS = 5
# Where requests go when no endpoint is given.
_AWS = "https://s3.amazonaws.com"

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


class ChangedMidway(BundlerError):
    """A bundle file's bytes were not the bundle's when they were sent."""

    def __init__(self, path: Path, digest: str, expected: str) -> None:
        super().__init__(
            f"{path} changed while it was published: sha256 {digest}, the bundle's is"
            f" {expected}; its upload was removed and no page lists it",
            hint="verify the bundle again",
        )


class _HashingReader:
    """A file as boto3 reads it for a PUT, hashing what is read in one pass
    from the start (a seek back to the start, for a retry or to measure
    the file, starts the hash again)."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self._hash = hashlib.sha256()
        self._hashed = 0  # bytes hashed, contiguous from the start
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        data = self._fh.read(size)
        if self._pos == self._hashed:
            self._hash.update(data)
            self._hashed += len(data)
        self._pos += len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = self._fh.seek(offset, whence)
        if self._pos == 0:
            self._hash = hashlib.sha256()
            self._hashed = 0
        return self._pos

    def tell(self) -> int:
        return self._fh.tell()

    def digest(self) -> str | None:
        """The sha256 of the whole file as read, or None when it was not
        read whole in one pass."""
        if self._hashed != os.fstat(self._fh.fileno()).st_size:
            return None
        return self._hash.hexdigest()


@dataclass(frozen=True)
class S3Object:
    """An object read from the bucket: its bytes and the ETag to write on."""

    body: bytes
    etag: str
    content_type: str | None


class PreconditionFailed(Exception):
    """A conditional write lost: another publisher wrote the object first
    (or the server just turned out to have no conditional writes: look
    again)."""


class _Unsupported(Exception):
    """The server does not implement conditional writes (501)."""


class S3Bucket:
    """The objects under ``location``, through one boto3 client (``client``,
    else one made on first use for ``endpoint``) shared by ``workers``
    threads.  Retries and warnings go to ``reporter``."""

    def __init__(
        self,
        location: S3Location,
        *,
        endpoint: str | None,
        client: S3Client | None = None,
        workers: int = DEFAULT_WORKERS,
        attempts: int = DEFAULT_ATTEMPTS,
        backoff: float = 0.5,
    ) -> None:
        self.location = location
        self.endpoint = endpoint
        self.reporter: Reporter = NULL_REPORTER
        self._client = client
        self._client_lock = threading.Lock()
        self._workers = max(1, workers)
        self._attempts = max(1, attempts)
        self._backoff = backoff
        # Conditional writes until the server says it has none (501).
        self.conditional = True

    def describe(self) -> str:
        where = redact_url(self.endpoint) if self.endpoint else "AWS"
        return f"{self.location} ({where})"

    def where(self, key: str) -> str:
        """``s3://bucket/key``, for messages."""
        return f"{S3_SCHEME}{self.location.bucket}/{key}"

    def object_url(self, key: str) -> str:
        """The object's URL at the endpoint (credentials redacted)."""
        base = (self.endpoint or _AWS).rstrip("/")
        return f"{redact_url(base)}/{self.location.bucket}/{quote(key)}"

    def client(self) -> S3Client:
        with self._client_lock:
            if self._client is None:
                self._client = _make_client(self.endpoint, self._workers)
            return self._client

    def map(self, fn: Callable[[Any], _T], items: Sequence[Any]) -> list[_T]:
        """``fn`` over ``items`` on the thread pool (boto3 clients are
        thread-safe); every failure is collected and raised together."""
        self.client()  # one client, made before the threads share it
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

    def get(self, key: str) -> S3Object | None:
        """The object at ``key``, or None when there is none."""

        def fetch() -> S3Object | None:
            try:
                got = self.client().get_object(Bucket=self.location.bucket, Key=key)
            except _errors().ClientError as err:
                if _status(err) == 404:
                    return None
                raise
            return S3Object(got["Body"].read(), got["ETag"], got.get("ContentType"))

        return self._call(fetch, key)

    def sha256(self, key: str) -> str | None:
        """The sha256 of an object (its ``x-amz-meta-sha256``, else its
        bytes'), or None when there is none."""

        def head() -> Any:
            try:
                return self.client().head_object(Bucket=self.location.bucket, Key=key)
            except _errors().ClientError as err:
                if _status(err) == 404:
                    return None
                raise

        found = self._call(head, key)
        if found is None:
            return None
        recorded = found.get("Metadata", {}).get(SHA256_META)
        if recorded:
            return str(recorded)
        obj = self.get(key)
        return None if obj is None else hashlib.sha256(obj.body).hexdigest()

    def write(
        self,
        key: str,
        body: Path | bytes,
        content_type: str,
        metadata: Mapping[str, str],
        condition: str,
        *,
        sha256: str | None = None,
    ) -> None:
        """Put ``body`` at ``key`` if ``condition`` holds: ``"*"`` creates
        only (If-None-Match), an ETag replaces only that object (If-Match).
        A server that does not implement conditional writes is written
        without them from then on (with a warning), and the caller is told
        to look again (``PreconditionFailed``).  A file ``body`` is hashed
        as it is sent: when its bytes are not ``sha256`` (the file changed
        since it was checked), the object is removed again and
        ``ChangedMidway`` raised."""
        request: dict[str, Any] = {
            "Bucket": self.location.bucket,
            "Key": key,
            "ContentType": content_type,
            "Metadata": dict(metadata),
        }
        conditional = self.conditional
        if conditional:
            request["IfNoneMatch" if condition == "*" else "IfMatch"] = condition
        sent: list[str | None] = []  # the digest of what the last attempt sent

        def send() -> None:
            if not isinstance(body, Path):
                self.client().put_object(Body=body, **request)
                return
            with body.open("rb") as fh:
                reader = _HashingReader(fh)
                self.client().put_object(Body=cast("IO[bytes]", reader), **request)
                sent[:] = [reader.digest()]

        try:
            self._call(send, key, conditional=conditional)
        except _Unsupported:
            with self._client_lock:
                warn, self.conditional = self.conditional, False
            if warn:
                self.reporter.warning(
                    f"{self.describe()} does not support conditional writes: pages are"
                    " written and read back, but two publishers at once may still lose"
                    " each other's files; publish to it from one place at a time"
                )
            raise PreconditionFailed from None
        if sha256 is not None and isinstance(body, Path):
            digest = sent[0] if sent else None
            if digest is None:  # not read in one pass from the start: read it again
                digest = sha256_file(body)[0]
            if digest != sha256:
                with contextlib.suppress(BundlerError):
                    self._call(
                        lambda: self.client().delete_object(Bucket=self.location.bucket, Key=key),
                        key,
                    )
                raise ChangedMidway(body, digest, sha256)

    def _call(self, fn: Callable[[], _T], key: str, *, conditional: bool = False) -> _T:
        """Run one request; network errors, 429 and 5xx are tried again with
        backoff (each retry reported); for a ``conditional`` write, a lost
        race raises ``PreconditionFailed`` and a server without conditional
        writes ``_Unsupported``; anything else is a ``BundlerError``."""
        host = urlsplit(self.endpoint or _AWS).netloc.rpartition("@")[2]
        for attempt in range(1, self._attempts + 1):
            try:
                return fn()
            except Exception as err:  # sorted out by _retryable
                problem = self._retryable(err, key, attempt, conditional=conditional)
            delay = self._backoff * 2 ** (attempt - 1)
            self.reporter.retry(host, problem, delay, attempt + 1, self._attempts)
            time.sleep(delay)
        raise AssertionError("unreachable")

    def _retryable(self, err: Exception, key: str, attempt: int, *, conditional: bool) -> str:
        """What went wrong, when the request may be tried again; else the
        error to raise, raised from ``err``."""
        errors = _errors()
        last = attempt == self._attempts
        if isinstance(err, errors.NoCredentialsError):
            raise UsageError(
                f"{self.location}: no AWS credentials found",
                hint="set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, AWS_PROFILE,"
                " or another source of the standard AWS chain",
            ) from err
        if isinstance(err, _config_errors()):
            raise UsageError(f"{self.location}: {err}") from err
        if isinstance(err, errors.ClientError):
            status = _status(err)
            code = err.response.get("Error", {}).get("Code", "")
            # 409: AWS's answer to a conditional write racing another.
            if conditional and (status in (409, 412) or code == "PreconditionFailed"):
                raise PreconditionFailed from err
            if conditional and (status == 501 or code == "NotImplemented"):
                raise _Unsupported from err
            if not (status == 429 or status >= 500) or last:
                raise _client_error(self.where(key), status, code, err) from err
            return f"{status} {code}".strip()
        if isinstance(err, errors.HTTPClientError | errors.ConnectionError):
            problem = type(err).__name__
            if last:
                raise NetworkError(self.where(key), f"{problem} after {attempt} attempts") from err
            return problem
        if isinstance(err, errors.BotoCoreError):
            raise NetworkError(self.where(key), str(err)) from err
        raise err


def _errors() -> Any:
    import botocore.exceptions

    return botocore.exceptions


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
