"""``bundle lock`` of a one-line requirements file, for tests that look at
what one line does."""

from __future__ import annotations

from pathlib import Path

from bundler.cli.main import run

__all__ = ["lock_line"]


def lock_line(tmp_path: Path, url: str, line: str) -> tuple[int, str]:
    """Lock ``line`` (a requirements file of it) against the index at
    ``url``: the exit code and the lock written ("" when none was)."""
    req = tmp_path / "requirements.in"
    req.write_text(line + "\n")
    out = tmp_path / "requirements.txt"
    code = run(["lock", str(req), "-o", str(out), "-i", url])
    return code, out.read_text() if out.exists() else ""
