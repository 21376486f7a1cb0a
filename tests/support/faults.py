"""Faults injected into bundler's own writes, and the state they must
leave: a full disk at the k-th call of a function, and a directory's
every file and subdirectory to compare before and after."""

from __future__ import annotations

import errno
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["LOCK_FILES", "fail_at", "tree_state"]

# The lock files bundler keeps inside or beside a directory it changes.
LOCK_FILES = frozenset({".bundle.lock", ".publish.lock"})


def fail_at(k: int, real: Callable[..., Any]) -> Callable[..., Any]:
    """``real``, raising a full disk's error at its ``k``-th call."""
    calls = 0

    def failing(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == k:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*args, **kwargs)

    return failing


def tree_state(root: Path) -> dict[str, bytes | None]:
    """Every file's bytes and every directory (None) under ``root``, but
    the lock files."""
    return {
        str(p.relative_to(root)): p.read_bytes() if p.is_file() else None
        for p in sorted(root.rglob("*"))
        if p.name not in LOCK_FILES
    }
