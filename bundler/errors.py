"""One root exception; each subclass carries what a person needs to act."""

from __future__ import annotations

from collections.abc import Sequence


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
