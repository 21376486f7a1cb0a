"""Keeping credentials out of files and messages."""

from __future__ import annotations

from bundler.redact import strip_credentials


def test_strip_credentials() -> None:
    text = "see https://u:p@host/simple and http://token@h2:8080/x, ftp://h/ok"
    assert strip_credentials(text) == "see https://host/simple and http://h2:8080/x, ftp://h/ok"
