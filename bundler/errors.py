"""One root exception; each subclass carries what a person needs to act."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from urllib.parse import urlsplit

from bundler.redact import redact_url

__all__ = [
    "BundleLocked",
    "BundlerError",
    "HashMismatch",
    "InputFileError",
    "InvalidDistribution",
    "InvalidURL",
    "MultipleErrors",
    "NetworkError",
    "NotFound",
    "ResolutionFailed",
    "UsageError",
    "check_url",
    "url_problem",
]


class BundlerError(Exception):
    """Root of every error bundler raises on purpose.

    ``exit_code`` follows the CLI contract: 1 means the input is
    unsatisfiable or a gate failed, 2 means usage or configuration error.
    """

    exit_code: int = 1

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}\nhint: {self.hint}"
        return self.message


class UsageError(BundlerError):
    """Bad command line, configuration or input file (exit 2)."""

    exit_code = 2


class InputFileError(UsageError):
    """A problem in an input file, located by file and line."""

    def __init__(
        self, path: str, line: int | None, message: str, *, hint: str | None = None
    ) -> None:
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}", hint=hint)
        self.path = path
        self.line = line


class InvalidURL(UsageError):
    """A malformed URL given by an option, a file or the configuration (exit 2)."""

    def __init__(self, where: str, url: str, reason: str) -> None:
        super().__init__(
            f"{where} {redact_url(url)}: {reason}",
            hint="write it as scheme://host[:port]/path, an IPv6 host in brackets",
        )
        self.where = where
        self.url = redact_url(url)
        self.reason = reason


def url_problem(url: str) -> str | None:
    """Why ``url`` (one with a ``scheme://``) cannot be used, or None.

    ``urlsplit`` checks only some of this, and only on newer Pythons (the
    port on first use): without the check a bad port or IPv6 host surfaces
    as a ValueError deep in the HTTP client.
    """
    if "://" not in url:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - reading it validates it
    except ValueError as err:
        return str(err).replace("Port", "port").replace("Invalid", "invalid")
    host = parts.netloc.rpartition("@")[2]
    if host.startswith("["):
        # RFC 3986: an IP literal in brackets, an IPv6 address (and RFC 6874 zone).
        literal = host[1:].partition("]")[0].partition("%")[0]
        try:
            ipaddress.IPv6Address(literal)
        except ValueError:
            return f"invalid IPv6 address {literal!r}"
    return None


def check_url(url: str, where: str) -> None:
    """Raise ``InvalidURL`` naming ``where`` (an option, ``file:line``) if
    ``url`` is malformed."""
    problem = url_problem(url)
    if problem is not None:
        raise InvalidURL(where, url, problem)


class MultipleErrors(BundlerError):
    """Several problems found while validating one input, reported together."""

    def __init__(self, errors: Sequence[BundlerError]) -> None:
        self.errors = tuple(errors)
        text = "\n".join(str(e) for e in self.errors)
        super().__init__(f"{len(self.errors)} problem(s):\n{text}")
        self.exit_code = max((e.exit_code for e in self.errors), default=1)


class NetworkError(BundlerError):
    """A request failed after retries (the URL is always redacted)."""

    def __init__(self, url: str, reason: str, *, status: int | None = None) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason
        self.status = status


class NotFound(NetworkError):
    """HTTP 404 / missing file: never retried."""


class HashMismatch(BundlerError):
    """Content does not match the expected digest."""

    def __init__(self, what: str, expected: str, got: str) -> None:
        super().__init__(
            f"hash mismatch for {what}: expected sha256 {expected}, got {got}",
            hint="the index or cache served different bytes than were locked;"
            " re-lock if the upstream file legitimately changed",
        )
        self.what = what
        self.expected = expected
        self.got = got


class InvalidDistribution(BundlerError):
    """A wheel or sdist that cannot be read or is malformed."""

    def __init__(self, filename: str, reason: str) -> None:
        super().__init__(f"{filename}: {reason}")
        self.filename = filename
        self.reason = reason


class ResolutionFailed(BundlerError):
    """The requirements cannot be satisfied for a target (exit 1)."""

    def __init__(self, target: str, explanation: str) -> None:
        super().__init__(f"cannot resolve for target {target}:\n{explanation}")
        self.target = target
        self.explanation = explanation


class BundleLocked(BundlerError):
    """Another bundler process holds the output directory."""

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} is in use by another bundler process",
            hint="wait for it to finish, or pass a different output directory",
        )
        self.path = path
