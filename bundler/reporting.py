"""Progress reporting: libraries call a Reporter, whose hooks are no-ops by
default; the CLI supplies one that draws rich progress."""

from __future__ import annotations

__all__ = [
    "NULL_REPORTER",
    "Reporter",
]


class Reporter:
    """Hooks for long work.  Every method is a no-op; override what you show.

    Implementations must be thread-safe: hooks are called from worker threads.
    """

    # Whether ``detail`` lines are shown: callers compose them only then.
    verbose: bool = False

    def stage(self, name: str) -> None:
        """A new stage started (e.g. "resolving", "downloading")."""

    def info(self, message: str) -> None:
        """A line worth showing to a person (not an error)."""

    def detail(self, message: str) -> None:
        """What is fetched and why, for a verbose run (``bundle lock -v``)."""

    def warning(self, message: str) -> None:
        """Something the user should know but that does not fail the run."""

    def task_start(self, key: str, description: str, total: int | None = None) -> None:
        """A unit of work (a file download, a target's install) began."""

    def task_advance(self, key: str, amount: int) -> None:
        """Progress (usually bytes) on a unit of work."""

    def task_done(self, key: str, ok: bool = True) -> None:
        """A unit of work finished."""

    def retry(self, host: str, problem: str, delay: float, attempt: int, limit: int) -> None:
        """A request to ``host`` (a host name and port, never credentials)
        failed with ``problem`` (e.g. "503", "connection dropped after 1048576
        bytes") and is sent again in ``delay`` seconds, as attempt ``attempt``
        of at most ``limit``: a slow run says why it is slow."""


NULL_REPORTER = Reporter()
