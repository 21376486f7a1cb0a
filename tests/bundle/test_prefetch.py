"""Fetching a lock's files ahead, into the cache."""

from __future__ import annotations

import threading

import pytest

from bundler.bundle.prefetch import FetchAhead
from bundler.models import DistKind, LockedFile


class FakeClient:
    def __init__(self, release: threading.Event | None = None) -> None:
        self.fetched: list[tuple[str, str, int | None]] = []
        self.cancelled = False
        self._release = release

    def fetch_to_cache(self, url: str, *, sha256: str, size: int | None = None) -> None:
        if self._release is not None:
            self._release.wait(5)
        self.fetched.append((url, sha256, size))

    def cancel(self) -> None:
        self.cancelled = True
        if self._release is not None:
            self._release.set()


def _file(name: str, url: str = "", sha256: str = "ab" * 32) -> LockedFile:
    return LockedFile(name, sha256, DistKind.WHEEL, url=url, size=3)


def test_files_with_a_url_and_a_hash_are_fetched_before_the_pool_is_left() -> None:
    client = FakeClient()
    with FetchAhead(client, workers=2) as ahead:
        ahead.submit([_file("a-1-py3-none-any.whl", "https://x/a"), _file("b-1.tar.gz")])
        ahead.submit([_file("c-1-py3-none-any.whl", "https://x/c", sha256="")])
    assert client.fetched == [("https://x/a", "ab" * 32, 3)]
    assert not client.cancelled


def test_ctrl_c_cancels_the_client_before_waiting_for_its_files() -> None:
    client = FakeClient(release=threading.Event())
    with pytest.raises(KeyboardInterrupt), FetchAhead(client, workers=1) as ahead:
        ahead.submit([_file("a-1-py3-none-any.whl", "https://x/a")])
        raise KeyboardInterrupt
    # The fetch under way was let go by the cancel, not by its timeout.
    assert client.cancelled
    assert client.fetched == [("https://x/a", "ab" * 32, 3)]
