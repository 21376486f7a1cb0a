"""Output files the user names (``--json``, ``--junit``, ``sbom -o``,
``pack -o``, ``lock -o``): a regular file is replaced atomically, a
symbolic link is written through (the link kept), and a device or FIFO
(``/dev/stdout``) is written directly, never replaced."""

from __future__ import annotations

import json
import os
import stat
import threading
from pathlib import Path

import pytest

from bundler.cli.main import run
from bundler.fsutil import atomic_write, write_output

A = "a==1.0 --hash=sha256:" + "1" * 64 + "\n"
B = "a==2.0 --hash=sha256:" + "2" * 64 + "\n"

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


def _locks(tmp_path: Path) -> tuple[str, str]:
    (tmp_path / "a.txt").write_text(A)
    (tmp_path / "b.txt").write_text(B)
    return str(tmp_path / "a.txt"), str(tmp_path / "b.txt")


def test_a_symlink_is_written_through_and_kept(tmp_path: Path) -> None:
    real = tmp_path / "out" / "real.json"
    real.parent.mkdir()
    real.write_text("old")
    link = tmp_path / "link.json"
    link.symlink_to(Path("out") / "real.json")
    write_output(link, "new")
    assert link.is_symlink() and os.readlink(link) == str(Path("out") / "real.json")
    assert real.read_text() == "new"
    assert sorted(p.name for p in real.parent.iterdir()) == ["real.json"]  # no temp file left


def test_a_dangling_symlink_makes_its_target(tmp_path: Path) -> None:
    link = tmp_path / "link.json"
    link.symlink_to(tmp_path / "made.json")
    write_output(link, b"data")
    assert link.is_symlink()
    assert (tmp_path / "made.json").read_bytes() == b"data"


def test_a_regular_file_is_still_replaced_atomically(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text("old")
    before = path.stat().st_ino
    write_output(path, "new")
    assert path.read_text() == "new"
    assert path.stat().st_ino != before  # a new file renamed over the old one
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_character_device_is_written_not_replaced() -> None:
    null = Path(os.devnull)
    if not null.exists() or not stat.S_ISCHR(null.stat().st_mode):
        pytest.skip(f"{null} is not a character device here")
    write_output(null, "discarded")
    assert stat.S_ISCHR(null.stat().st_mode)


def _read_fifo(fifo: Path, got: list[bytes]) -> threading.Thread:
    def read() -> None:
        with fifo.open("rb") as fh:
            got.append(fh.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    return reader


@needs_fifo
def test_json_to_a_link_to_a_fifo_is_written_through_it(tmp_path: Path) -> None:
    """What ``--json /dev/stdout`` is (a link to the terminal or a pipe):
    the JSON reaches the reader and both the link and the FIFO remain."""
    old, new = _locks(tmp_path)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    stdout = tmp_path / "stdout"
    stdout.symlink_to(fifo)
    got: list[bytes] = []
    reader = _read_fifo(fifo, got)
    assert run(["diff", old, new, "--json", str(stdout), "-q"]) == 0
    reader.join(10)
    assert json.loads(got[0])["counts"]["upgrade"] == 1
    assert stdout.is_symlink() and stat.S_ISFIFO(fifo.stat().st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "pipe", "stdout"]


def test_json_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    old, new = _locks(tmp_path)
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real.name)
    assert run(["diff", old, new, "--json", str(link), "-q"]) == 0
    assert link.is_symlink()
    assert json.loads(real.read_text())["counts"]["upgrade"] == 1


def test_bundle_internal_writes_still_replace_a_link(tmp_path: Path) -> None:
    """A file bundler keeps (a cache entry, a page of a bundle) never
    follows a link: it could lead out of the directory."""
    outside = tmp_path / "outside"
    outside.write_text("keep")
    inside = tmp_path / "page.html"
    inside.symlink_to(outside)
    atomic_write(inside, b"page")
    assert not inside.is_symlink() and inside.read_bytes() == b"page"
    assert outside.read_text() == "keep"


def test_atomic_write_writes_its_parts_in_order(tmp_path: Path) -> None:
    target = tmp_path / "entry"
    target.write_bytes(b"old")
    atomic_write(target, b"head\n", b"body", b"", b" tail")
    assert target.read_bytes() == b"head\nbody tail"
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # no temp file left


@pytest.mark.parametrize("where", ["parent is a file", "a directory"])
def test_an_output_that_cannot_be_written_there_is_a_usage_error_naming_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    # Named as given, never by the temp file bundler tries beside it.
    old, new = _locks(tmp_path)
    (tmp_path / "afile").write_text("keep")
    (tmp_path / "adir").mkdir()
    out = tmp_path / ("afile/report.json" if where == "parent is a file" else "adir")
    assert run(["diff", old, new, "--json", str(out), "-q"]) == 2
    err = capsys.readouterr().err
    assert f"error: {out}" in err or f"error: cannot write {out}" in err, err
    assert ".tmp" not in err and "Traceback" not in err
    assert (tmp_path / "afile").read_text() == "keep"
    assert list((tmp_path / "adir").iterdir()) == []
