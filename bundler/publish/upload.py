"""An index that takes files by the legacy upload API (pypiserver, devpi,
Artifactory, Nexus, GitLab, Gitea): what twine sends, spoken over bundler's
own HTTP layer (retries, TLS, credentials, redaction).

What the index already holds is read from its simple pages (PEP 691 JSON or
PEP 503 HTML), never guessed from an upload's answer; an upload the server
says it already has is settled by comparing hashes.
"""

from __future__ import annotations

__all__ = [
    "FileConflict",
    "UploadDestination",
    "UploadFailed",
    "multipart_body",
    "upload_fields",
]

import hashlib
import os
import secrets
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urljoin, urlsplit

from packaging.metadata import parse_email
from packaging.utils import NormalizedName, canonicalize_name

from bundler.errors import (
    BundlerError,
    MultipleErrors,
    NetworkError,
    NotFound,
    UsageError,
    check_url,
)
from bundler.index.client import HttpClient
from bundler.index.collector import ACCEPT
from bundler.models import DistKind
from bundler.publish.destination import Held, PublishFile
from bundler.redact import redact_text, redact_url, split_auth
from bundler.reporting import Reporter
from bundler.spec.archives import sdist_file, wheel_metadata
from bundler.spec.pages import parse_project_page

# The legacy upload API (warehouse's forklift, as twine speaks it).
UPLOAD_ACTION = "file_upload"
PROTOCOL_VERSION = "1"
FILETYPES = {DistKind.WHEEL: "bdist_wheel", DistKind.SDIST: "sdist"}
SDIST_PYVERSION = "source"
# Core metadata fields whose form name is not their RawMetadata key (twine's names).
_FORM_NAMES = {
    "platforms": "platform",
    "supported_platforms": "supported_platform",
    "license_files": "license_file",
}
# Uploads at once: enough to hide round trips, few enough for one index.
UPLOAD_WORKERS = 4
BODY_CHUNK = 1024 * 1024
# How much of a refusal's body a message quotes.
SERVER_MESSAGE_LIMIT = 300
# Environment variables twine reads for credentials.
TWINE_USERNAME = "TWINE_USERNAME"
TWINE_PASSWORD = "TWINE_PASSWORD"  # noqa: S105 - a variable's name
_CREDENTIALS_HINT = (
    "give the index's credentials in DEST (https://user:secret@host/...), ~/.netrc,"
    " TWINE_USERNAME/TWINE_PASSWORD, or the keyring command (--keyring-provider subprocess)"
)


class UploadFailed(BundlerError):
    """The index refused an upload, or answered it in a way that is not
    "stored" (the server's own message is quoted, credentials redacted)."""

    def __init__(self, filename: str, where: str, reason: str, *, hint: str | None = None) -> None:
        super().__init__(f"uploading {filename} to {where}: {reason}", hint=hint)
        self.filename = filename
        self.where = where
        self.reason = reason


class UploadRejectedCredentials(UsageError):
    """The index refused the credentials (or asked for some): exit 2."""

    def __init__(self, filename: str, where: str, status: int) -> None:
        super().__init__(
            f"uploading {filename} to {where}: HTTP {status}: the index refused the upload's"
            " credentials",
            hint=_CREDENTIALS_HINT,
        )
        self.filename = filename
        self.where = where


class FileConflict(BundlerError):
    """The destination has a file of this name with other bytes: it is never
    replaced (PyPI's rule), so nothing of that file is published."""

    def __init__(self, filename: str, where: str, expected: str, there: str) -> None:
        super().__init__(
            f"{where} already has {filename} with other bytes (sha256 {there}, the bundle's"
            f" is {expected}): refusing to replace it",
            hint="a published file is never replaced; publish a new version (or a build"
            " number) instead, or remove the file there by hand if it is wrong",
        )
        self.filename = filename
        self.where = where
        self.expected = expected
        self.there = there


# --- the form, pure ------------------------------------------------------------------


def _pyversion(filename: str, kind: DistKind) -> str:
    # Wheel filename: {name}-{ver}(-{build})?-{py}-{abi}-{plat}.whl: the python tag.
    if kind is DistKind.WHEEL:
        return filename[: -len(".whl")].split("-")[-3]
    return SDIST_PYVERSION


def upload_fields(
    metadata: bytes | None,
    *,
    name: str,
    version: str,
    filename: str,
    kind: DistKind,
    sha256: str,
) -> list[tuple[str, str]]:
    """The form fields (all but the file) of one ``file_upload``, in order:
    the action, the file's identity, then every core metadata field the
    distribution carries (lists as repeated fields), as twine sends them.

    ``metadata`` is the wheel's METADATA or the sdist's PKG-INFO; without it
    only name and version describe the release (every index takes that)."""
    fields: list[tuple[str, str]] = [
        (":action", UPLOAD_ACTION),
        ("protocol_version", PROTOCOL_VERSION),
        ("name", name),
        ("version", version),
        ("filetype", FILETYPES[kind]),
        ("pyversion", _pyversion(filename, kind)),
        ("sha256_digest", sha256),
    ]
    if metadata is None:
        return fields
    raw, _unparsed = parse_email(metadata)
    for key, value in sorted(raw.items()):
        if key in ("name", "version"):
            continue  # the file's own, above (the index checks the filename against them)
        form = _FORM_NAMES.get(key, key)
        if key == "keywords" and isinstance(value, list):
            fields.append((form, ", ".join(value)))
        elif key == "project_urls" and isinstance(value, dict):
            fields += [(form, f"{label}, {url}") for label, url in value.items()]
        elif isinstance(value, list):
            fields += [(form, str(item)) for item in value]
        else:
            fields.append((form, str(value)))
    return fields


@dataclass(frozen=True)
class MultipartBody:
    """A multipart/form-data body (RFC 7578) whose file part is read from
    disk each time it is iterated: a retry sends it again from the start,
    and a big wheel is never held in memory whole."""

    head: bytes
    path: Path
    tail: bytes
    content_type: str
    # The sha256 of the file part of each pass sent whole, last one last.
    sent: list[str] = field(default_factory=list, compare=False)

    @property
    def length(self) -> int:
        return len(self.head) + self.path.stat().st_size + len(self.tail)

    def __iter__(self) -> Iterator[bytes]:
        yield self.head
        sha256 = hashlib.sha256()
        with self.path.open("rb") as fh:
            while chunk := fh.read(BODY_CHUNK):
                sha256.update(chunk)
                yield chunk
        self.sent.append(sha256.hexdigest())
        yield self.tail


def _quoted(value: str) -> str:
    # RFC 7578 4.2: a field or file name in a quoted-string; escape what would end it.
    return value.replace("\\", "\\\\").replace('"', "%22").replace("\r", "%0D").replace("\n", "%0A")


def multipart_body(
    fields: Sequence[tuple[str, str]], path: Path, filename: str, *, boundary: str | None = None
) -> MultipartBody:
    """The body of one upload: ``fields``, then the file as ``content``."""
    boundary = boundary or secrets.token_hex(16)
    head = bytearray()
    for key, value in fields:
        head += f"--{boundary}\r\n".encode()
        head += f'Content-Disposition: form-data; name="{_quoted(key)}"\r\n\r\n'.encode()
        head += value.encode("utf-8") + b"\r\n"
    head += f"--{boundary}\r\n".encode()
    head += (
        f'Content-Disposition: form-data; name="content"; filename="{_quoted(filename)}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    return MultipartBody(
        bytes(head),
        path,
        f"\r\n--{boundary}--\r\n".encode(),
        f"multipart/form-data; boundary={boundary}",
    )


def says_exists(status: int, reason: str, text: str) -> bool:
    """Whether an upload's answer means "a file of that name is already
    there", in each index's own words (the cases twine's --skip-existing
    knows)."""
    said = f"{reason}\n{text}".lower()
    return (
        status == 409  # pypiserver, devpi
        or (status == 400 and "already exist" in said)  # PyPI, GCP Artifact Registry
        or (status == 400 and "updating asset" in said)  # Nexus
        or (status == 403 and "overwrite artifact" in said)  # Artifactory
        or (status == 400 and "already been taken" in said)  # GitLab
    )


def _server_message(content: bytes) -> str:
    text = " ".join(content.decode("utf-8", "replace").split())
    if len(text) > SERVER_MESSAGE_LIMIT:
        text = text[:SERVER_MESSAGE_LIMIT] + "..."
    return redact_text(text)


# --- the destination -----------------------------------------------------------------


def _distribution_metadata(file: PublishFile) -> bytes | None:
    """The core metadata the form describes the release with: the sidecar
    (the wheel's METADATA, byte for byte), else read from the file."""
    if file.metadata is not None:
        return file.metadata.read_bytes()
    if file.artifact.kind is DistKind.WHEEL:
        return wheel_metadata(file.path, file.artifact.filename)
    return sdist_file(file.path, file.artifact.filename, "PKG-INFO")


class UploadDestination:
    """An index written through the legacy upload API.

    ``url`` is where files are POSTed (twine's ``--repository-url``: e.g.
    ``https://host/`` for pypiserver, ``https://host/user/index/`` for
    devpi, ``https://host/artifactory/api/pypi/REPO`` for Artifactory,
    ``https://host/repository/REPO/`` for Nexus).  Keywords:

    - ``read_url``: the index's simple pages, where ``held`` reads what is
      there and installers read from (default ``url`` + ``simple/``, which
      is right for all of those but devpi: see ``DevpiDestination``);
    - ``client``: the ``HttpClient`` to speak through (retries with
      backoff, TLS, ``~/.netrc``, the keyring after a 401); one is made
      when not given;
    - ``environ``: where ``TWINE_USERNAME``/``TWINE_PASSWORD`` are read
      (used when ``url`` carries no credentials of its own);
    - ``workers``: uploads (and page reads) at once.

    Credentials in ``url`` (or from the environment) go to its host only
    and are never shown: ``describe`` and every error redact them.
    """

    def __init__(
        self,
        url: str,
        *,
        read_url: str | None = None,
        client: HttpClient | None = None,
        environ: Mapping[str, str] | None = None,
        workers: int = UPLOAD_WORKERS,
    ) -> None:
        check_url(url, "publish destination")
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise UsageError(
                f"publish destination {redact_url(url)}: an upload URL must be http or https",
                hint="give the index's upload URL, e.g. https://host/ (pypiserver) or"
                " https://host/user/index/ (devpi)",
            )
        if read_url is not None:
            check_url(read_url, "--index-url")
        if client is None:
            client = HttpClient()
        self.client = client
        self._url = self._register(url, environ if environ is not None else os.environ)
        self._read_url = (
            self.client.add_index(read_url) if read_url is not None else self._default_read_url()
        )
        self.workers = max(1, workers)

    def _register(self, url: str, environ: Mapping[str, str]) -> str:
        """Remember the upload credentials (the URL's, else twine's
        environment variables) for the URL's host; return the URL without them."""
        clean, auth = split_auth(url)
        user = environ.get(TWINE_USERNAME) or None
        password = environ.get(TWINE_PASSWORD) or None
        if (auth is None or not auth[1]) and (user or password):
            name = auth[0] if auth is not None and auth[0] else (user or "")
            parts = urlsplit(clean)
            secret = password or ""
            with_auth = parts._replace(
                netloc=f"{quote(name, safe='')}:{quote(secret, safe='')}@{parts.netloc}"
            ).geturl()
            self.client.add_credentials(with_auth)
            return self.client.add_index(clean)
        return self.client.add_index(url)

    def _default_read_url(self) -> str:
        return urljoin(self._url.rstrip("/") + "/", "simple/")

    # -- the Destination protocol --------------------------------------------------------

    def describe(self) -> str:
        return redact_url(self._url)

    def read_url(self) -> str | None:
        return self._read_url

    def held(self, projects: Sequence[str]) -> Mapping[str, Held]:
        return self._held_at(self._read_url, projects)

    def put(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        self._upload_all(self._url, files, reporter)

    # -- reading -------------------------------------------------------------------------

    def _held_at(self, read_url: str, projects: Sequence[str]) -> dict[str, Held]:
        """Every file the simple index at ``read_url`` lists for ``projects``."""
        names = sorted({canonicalize_name(p) for p in projects})
        held: dict[str, Held] = {}
        if not names:
            return held
        with ThreadPoolExecutor(max_workers=min(self.workers, len(names))) as pool:
            for found in pool.map(lambda n: self._project_files(read_url, n), names):
                held.update(found)
        return held

    def _project_files(self, read_url: str, name: NormalizedName) -> dict[str, Held]:
        # PEP 503: the normalized name, with a trailing slash.
        page_url = urljoin(read_url.rstrip("/") + "/", f"{name}/")
        try:
            resp = self.client.get(page_url, ACCEPT)
        except NotFound:
            return {}
        page = parse_project_page(
            resp.content, resp.content_type, resp.url, name, redact_url(read_url)
        )
        return {f.filename: Held(f.filename, f.sha256, f.url) for f in page.files}

    def _sha256_there(self, held: Held) -> str | None:
        """The sha256 of a file the index holds: as listed, else fetched and hashed."""
        if held.sha256 is not None:
            return held.sha256
        if held.url is None:
            return None
        return hashlib.sha256(self.client.get(held.url).content).hexdigest()

    # -- uploading -----------------------------------------------------------------------

    def _upload_all(
        self,
        url: str,
        files: Sequence[PublishFile],
        reporter: Reporter,
        read_url: str | None = None,
    ) -> None:
        """Upload every file to ``url``, all of them tried; every failure
        is reported together at the end."""
        failures: list[BundlerError] = []
        for file in files:
            if file.artifact.yanked is not None:
                reporter.warning(
                    f"{file.artifact.filename} is yanked, which the upload API cannot say"
                    " (PEP 592 yanking is the index's own action): installers will see it"
                    " as not yanked until it is yanked there"
                )

        uploaded: list[str] = []

        def one(file: PublishFile) -> BundlerError | None:
            name = file.artifact.filename
            reporter.task_start(name, f"uploading {name}", file.artifact.size)
            try:
                self._upload(url, file, reporter, read_url or self._read_url)
            except BundlerError as err:
                reporter.task_done(name, ok=False)
                return err
            reporter.task_advance(name, file.artifact.size)
            reporter.task_done(name)
            uploaded.append(name)
            return None

        ordered = sorted(files, key=lambda f: f.artifact.filename)
        if ordered:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(ordered))) as pool:
                failures = [err for err in pool.map(one, ordered) if err is not None]
        if failures and uploaded:
            # An upload API has no transaction: say what is already live.
            done = sorted(uploaded)
            reporter.warning(
                f"{len(done)} of {len(ordered)} files were uploaded before the failure"
                f" ({', '.join(done)}); publish again to finish: what is there is skipped"
            )
        if len(failures) == 1:
            raise failures[0]
        if failures:
            raise MultipleErrors(failures)

    def _upload(self, url: str, file: PublishFile, reporter: Reporter, read_url: str) -> None:
        artifact = file.artifact
        fields = upload_fields(
            _distribution_metadata(file),
            name=artifact.project,
            version=artifact.version,
            filename=artifact.filename,
            kind=artifact.kind,
            sha256=artifact.sha256,
        )
        body = multipart_body(fields, file.path, artifact.filename)
        headers = {"Content-Type": body.content_type, "Content-Length": str(body.length)}
        where = redact_url(url)
        try:
            resp = self.client.post(url, body, headers)
        except NetworkError as err:
            raise UploadFailed(artifact.filename, where, err.reason) from err
        if 200 <= resp.status < 300:
            sent = body.sent[-1] if body.sent else None
            if sent is not None and sent != artifact.sha256:
                raise UploadFailed(
                    artifact.filename,
                    where,
                    f"the file changed while it was uploaded: the index took bytes with sha256"
                    f" {sent}, the bundle's is {artifact.sha256}",
                    hint="remove that file from the index (most indexes never take a name"
                    " again with other bytes), verify the bundle, and publish again",
                )
            return
        reason = self.client.scrub(resp.reason)
        text = self.client.scrub(_server_message(resp.content))
        if says_exists(resp.status, reason, text):
            self._settle_existing(file, where, read_url, reporter)
            return
        if resp.status in (401, 403):
            raise UploadRejectedCredentials(artifact.filename, where, resp.status)
        if 300 <= resp.status < 400:
            location = redact_url(resp.headers.get("Location", ""))
            raise UploadFailed(
                artifact.filename,
                where,
                f"HTTP {resp.status}: the upload URL redirects to {location or 'elsewhere'}",
                hint="give the URL it redirects to as the destination (an upload is never"
                " sent on to another address)",
            )
        raise UploadFailed(artifact.filename, where, f"HTTP {resp.status}: {text or reason}")

    def _settle_existing(
        self, file: PublishFile, where: str, read_url: str, reporter: Reporter
    ) -> None:
        """The index says it has a file of this name (another publisher's,
        or an earlier attempt of this very upload that did arrive): fine
        with the same bytes, a ``FileConflict`` with others."""
        artifact = file.artifact
        held = self._project_files(read_url, canonicalize_name(artifact.project)).get(
            artifact.filename
        )
        if held is None:
            raise UploadFailed(
                artifact.filename,
                where,
                f"the index says the file exists, but {redact_url(read_url)} does not list it",
                hint="give the index's simple URL with --index-url",
            )
        there = self._sha256_there(held)
        if there is None:
            raise UploadFailed(
                artifact.filename,
                where,
                "the index says the file exists and its bytes cannot be compared",
            )
        if there != artifact.sha256:
            raise FileConflict(artifact.filename, where, artifact.sha256, there)
        reporter.info(f"{artifact.filename} was already at {where} (same sha256)")
