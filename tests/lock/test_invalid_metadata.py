"""A release whose metadata is invalid is skipped, as pip skips it
("Ignoring version 2.0 of a since it has invalid metadata"), with a
warning (on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import DistFactory, DistSpec
from tests.support.indexserver import IndexServer
from tests.support.locking import lock_line as lock

BROKEN = "b ==1.*.2"  # not a PEP 440 specifier


def test_a_release_with_invalid_metadata_is_skipped_with_a_warning(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dist_factory(
        [
            DistSpec("a", "1.0", requires=("b",), sdist=False),
            DistSpec("a", "2.0", requires=(BROKEN,), sdist=False),
            DistSpec("b", "1.0", sdist=False),
        ]
    )
    with IndexServer(files) as server:
        code, text = lock(tmp_path, server.url, "a")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    assert "a==1.0" in text and "b==1.0" in text
    assert "ignoring a 2.0, as pip does: its metadata is invalid:" in err
    assert f"invalid Requires-Dist {BROKEN!r}" in err


def test_only_releases_with_invalid_metadata_fail_the_lock_saying_so(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dist_factory([DistSpec("a", "2.0", requires=(BROKEN,), sdist=False)])
    with IndexServer(files) as server:
        code, text = lock(tmp_path, server.url, "a")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 1, err
    assert "a!=2.0 (its metadata is invalid: a-2.0-py3-none-any.whl" in err
    assert f"invalid Requires-Dist {BROKEN!r}" in err
    assert "Traceback" not in err and text == ""
