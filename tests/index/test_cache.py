"""The disk cache's file placement: hard links where possible, else copies."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.index.cache import link_or_copy


def test_link_or_copy_links_a_free_name_and_replaces_a_taken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_file_made(*args: object, **kwargs: object) -> None:
        raise AssertionError("a link needs no placeholder file")

    monkeypatch.setattr("bundler.fsutil.tempfile.mkstemp", no_file_made)
    source = tmp_path / "blob"
    source.write_bytes(b"content")
    fresh = tmp_path / "out" / "fresh.whl"
    link_or_copy(source, fresh)
    assert fresh.read_bytes() == b"content"
    assert fresh.stat().st_ino == source.stat().st_ino
    taken = tmp_path / "out" / "taken.whl"
    taken.write_bytes(b"stale")
    link_or_copy(source, taken)
    assert taken.read_bytes() == b"content"
    assert taken.stat().st_ino == source.stat().st_ino
    # No temp name is left behind.
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fresh.whl", "taken.whl"]


@pytest.mark.parametrize("taken", [False, True])
def test_link_or_copy_copies_where_no_link_can_be_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken: bool
) -> None:
    source = tmp_path / "blob"
    source.write_bytes(b"content")
    dest = tmp_path / "out" / "file.whl"
    if taken:
        dest.parent.mkdir()
        dest.write_bytes(b"stale")

    def no_links(src: object, dst: object) -> None:
        raise OSError(18, "Invalid cross-device link")

    monkeypatch.setattr("bundler.index.cache.os.link", no_links)
    link_or_copy(source, dest)
    assert dest.read_bytes() == b"content"
    assert dest.stat().st_ino != source.stat().st_ino
    assert [p.name for p in dest.parent.iterdir()] == ["file.whl"]
