"""--hash on a named requirement in the input: as for pip, only files
with one of the hashes given are installed, so only they are locked
(on 127.0.0.1)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.support import DistFactory, DistSpec
from tests.support.indexserver import IndexServer
from tests.support.locking import lock_line as lock

SPECS = [DistSpec("a", "1.0"), DistSpec("a", "2.0")]


def sha256(files: Path, name: str) -> str:
    return hashlib.sha256((files / name).read_bytes()).hexdigest()


def test_hashes_choose_the_release_and_the_files_pip_would_install(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dist_factory(SPECS)
    wheel1 = sha256(files, "a-1.0-py3-none-any.whl")
    sdist1 = sha256(files, "a-1.0.tar.gz")
    with IndexServer(files) as server:
        # Unpinned: the newest release with a file of that hash.
        code, text = lock(tmp_path, server.url, f"a --hash=sha256:{wheel1}")
        assert code == 0, capsys.readouterr().err
        assert "a==1.0" in text and f"--hash=sha256:{wheel1}" in text
        assert sdist1 not in text
        # Pinned with the sdist's hash only: the wheel is not trusted.
        code, text = lock(tmp_path, server.url, f"a==1.0 --hash=sha256:{sdist1}")
        assert code == 0, capsys.readouterr().err
        assert f"--hash=sha256:{sdist1}" in text and wheel1 not in text
        # A hash no file has: nothing is installable, and lock says why,
        # leaving the lock it would have replaced as it was.
        capsys.readouterr()
        code, after = lock(tmp_path, server.url, f"a==1.0 --hash=sha256:{'0' * 64}")
        err = " ".join(capsys.readouterr().err.split())
        assert code == 1, err
        assert "its hash is not one of the --hash values the requirements give" in err
        assert after == text


@pytest.mark.parametrize("named", [True, False])
def test_a_direct_reference_in_constraints_is_refused_not_dropped(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str], named: bool
) -> None:
    # pip installs a from that file whenever a is required; read as a bare
    # name the lock took the index's newest a instead, silently.
    files = dist_factory(SPECS)
    with IndexServer(files) as server:
        url = server.file_url("a-1.0-py3-none-any.whl")
        (tmp_path / "c.txt").write_text((f"a @ {url}" if named else url) + "\n")
        code, text = lock(tmp_path, server.url, "-c c.txt\na")
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "c.txt:1: a direct reference in a constraints file (a @ " in err
    assert "hint: put 'a @ <url>' in the requirements instead" in err
    assert text == ""
