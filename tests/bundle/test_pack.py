"""``bundle pack`` / ``bundle unpack``: one deterministic archive across an
air gap, unpacked only when every member checks out and the offline gate
passes."""

from __future__ import annotations

import errno
import gzip
import io
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bundler import fsutil
from bundler.bundle import pack
from bundler.bundle.layout import STAMP_NAME
from bundler.cli.main import run
from bundler.runtime.isolation import detect_network_isolation
from tests.support import DistSpec, IndexServerFactory
from tests.support.bundles import install_offline

SPECS = [
    DistSpec("webapp", "1.0", requires=("framework>=2",)),
    DistSpec("framework", "2.0", requires=("util<3",)),
    DistSpec("util", "2.5", wheel=False),  # an sdist: buildability is checked too
    DistSpec("a-package-with-a-rather-long-name-to-need-pax-headers-in-the-tar", "1.0"),
]


def bundle_cmd(*args: str) -> int:
    return run([*args, "--quiet"])


@pytest.fixture
def bundle(tmp_path: Path, index_server: IndexServerFactory) -> Path:
    url = str(index_server(SPECS).url)
    req = tmp_path / "requirements.in"
    req.write_text("webapp\na-package-with-a-rather-long-name-to-need-pax-headers-in-the-tar\n")
    out = tmp_path / "pypi"
    assert bundle_cmd("build", str(req), "-o", str(out), "-i", url, "--no-install") == 0
    return out


def tree(root: Path) -> dict[str, bytes]:
    """The bundle's files, without the verify stamp: each verify (the
    build's, the unpack's) records its own time."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in (".bundle.lock", STAMP_NAME)
    }


def leftovers(parent: Path, name: str) -> list[str]:
    """What an unpack left beside ``name`` (but its lock file)."""
    return sorted(
        p.name
        for p in parent.iterdir()
        if p.name.startswith(f".{name}.") and p.name != f".{name}.lock"
    )


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tgz", ".tar.zst"])
def test_pack_is_deterministic(bundle: Path, tmp_path: Path, suffix: str) -> None:
    if suffix == ".tar.zst":
        pytest.importorskip("zstandard", reason="zstandard is not installed")
    first, second = tmp_path / f"one{suffix}", tmp_path / f"two{suffix}"
    assert bundle_cmd("pack", str(bundle), "-o", str(first)) == 0
    # Another moment, other file times: the same bytes.
    os.utime(bundle / "bundle.json", (1, 1))
    assert bundle_cmd("pack", str(bundle), "-o", str(second)) == 0
    assert first.read_bytes() == second.read_bytes()
    # An archive named through a symbolic link lands at its target; the link stays.
    link = tmp_path / f"link{suffix}"
    link.symlink_to(second.name)
    assert bundle_cmd("pack", str(bundle), "-o", str(link)) == 0
    assert link.is_symlink() and second.read_bytes() == first.read_bytes()
    if suffix == ".tar.zst":
        return
    with tarfile.open(first) as tar:
        members = tar.getmembers()
    names = [m.name for m in members]
    assert names[0] == "bundle.json"
    assert names[1:] == sorted(names[1:])
    assert "simple/util/index.html" in names and "requirements.txt" in names
    assert ".bundle.lock" not in names
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}
    assert {m.mode for m in members if m.isdir()} == {0o755}
    assert {m.mode for m in members if m.isfile()} == {0o644}
    assert {n for n in names if n.startswith("files/")} == {
        f"files/{p.name}" for p in (bundle / "files").iterdir()
    }
    if suffix != ".tar":
        header = first.read_bytes()[:10]
        assert header[3] == 0  # FLG: no FNAME, no comment, no extra field
        assert header[4:8] == b"\0\0\0\0"  # MTIME 0


def test_source_date_epoch_sets_the_members_time(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    archive = tmp_path / "b.tar"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    with tarfile.open(archive) as tar:
        assert {m.mtime for m in tar.getmembers()} == {1700000000}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    assert bundle_cmd("pack", str(bundle), "-o", str(tmp_path / "c.tar")) == 2


def test_pack_refuses_a_bundle_that_fails_integrity(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (bundle / "files" / "stray.txt").write_text("not in the manifest")
    archive = tmp_path / "b.tar.gz"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 1
    assert not archive.exists()
    assert "files/stray.txt" in capsys.readouterr().err


def test_archive_names_and_zstd_without_zstandard(
    bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert bundle_cmd("pack", str(bundle), "-o", str(tmp_path / "b.zip")) == 2
    assert ".tar.gz" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import fails
    assert bundle_cmd("pack", str(bundle), "-o", str(tmp_path / "b.tar.zst")) == 2
    err = capsys.readouterr().err
    assert "pip install zstandard" in err and "Traceback" not in err
    assert not (tmp_path / "b.tar.zst").exists()


def _offline_command(args: list[str]) -> list[str]:
    """``bundle ARGS`` in a process that cannot reach any network: in a
    network namespace of its own when the machine allows it, else with
    every proxy variable pointing at a closed port."""
    return [*detect_network_isolation().prefix, sys.executable, "-m", "bundler", *args]


def _offline_env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    dead = "http://127.0.0.1:9"
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env[name] = dead
    env.pop("no_proxy", None)
    env.pop("NO_PROXY", None)
    env["BUNDLER_CACHE_DIR"] = str(home / "cache")  # an empty cache
    return env


@pytest.mark.parametrize("suffix", [".tar", ".tar.gz", ".tar.zst"])
def test_unpack_offline_then_verify_and_install(bundle: Path, tmp_path: Path, suffix: str) -> None:
    if suffix == ".tar.zst":
        pytest.importorskip("zstandard", reason="zstandard is not installed")
    archive = tmp_path / f"carried{suffix}"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    dest = tmp_path / "airgap" / "pypi"
    proc = subprocess.run(
        _offline_command(["unpack", str(archive), "-o", str(dest)]),
        env=_offline_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "closure" in proc.stderr and "PASS" in proc.stderr
    assert tree(dest) == tree(bundle)
    assert leftovers(dest.parent, "pypi") == []
    assert bundle_cmd("verify", str(dest), "--no-install", "--offline") == 0
    got = install_offline(dest, tmp_path / "venv")
    assert got["webapp"] == "1.0" and got["util"] == "2.5"


def _rewrite(
    source: Path,
    target: Path,
    change: Callable[[tarfile.TarInfo, bytes], list[tuple[tarfile.TarInfo, bytes]]],
) -> None:
    """Copy a tar archive member by member through ``change``."""
    with tarfile.open(source) as src, tarfile.open(target, "w", format=tarfile.PAX_FORMAT) as dst:
        for member in src.getmembers():
            fh = src.extractfile(member)
            data = fh.read() if fh is not None else b""
            for info, body in change(member, data):
                dst.addfile(info, io.BytesIO(body) if info.isreg() else None)


def _file(name: str, body: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    return info


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _extra(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "files":
        return [(m, data), (_file("files/evil-1.0-py3-none-any.whl", b"x"), b"x")]
    return [(m, data)]


def _changed_byte(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name.startswith("files/framework-") and m.name.endswith(".whl"):
        return [(m, data[:-1] + bytes([data[-1] ^ 1]))]
    return [(m, data)]


def _symlink(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name.startswith("files/framework-") and m.name.endswith(".whl"):
        return [(_link(m.name, "/etc/passwd"), b"")]
    return [(m, data)]


def _hardlink(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "simple/index.json":
        return [(_link(m.name, "bundle.json", tarfile.LNKTYPE), b"")]
    return [(m, data)]


def _dotdot(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "files":
        return [(m, data), (_file("files/../../x", b"owned"), b"owned")]
    return [(m, data)]


def _absolute(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "files":
        return [(m, data), (_file("/tmp/bundler-owned", b"owned"), b"owned")]
    return [(m, data)]


def _device(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "simple/index.json":
        info = tarfile.TarInfo(m.name)
        info.type = tarfile.CHRTYPE
        return [(info, b"")]
    return [(m, data)]


def _missing(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    return [] if m.name.startswith("files/framework-") else [(m, data)]


def _changed_page(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "simple/framework/index.html":
        body = data.replace(b"framework-2.0", b"framework-2.1")
        return [(_file(m.name, body), body)]
    return [(m, data)]


def _manifest_not_first(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
    if m.name == "bundle.json":
        return [(_file("requirements.txt.orig", b""), b""), (m, data)]
    return [(m, data)]


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (_extra, "files/evil-1.0-py3-none-any.whl' is not in the bundle"),
        (_changed_byte, "hash mismatch"),
        (_symlink, "is a link"),
        (_hardlink, "is a link"),
        (_dotdot, "goes outside the bundle"),
        (_absolute, "goes outside the bundle"),
        (_device, "not a regular file"),
        (_missing, "is missing"),
        (_changed_page, "simple/framework/index.html"),
        (_manifest_not_first, "not bundle.json"),
    ],
)
def test_unpack_refuses_a_tampered_archive(
    bundle: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Callable[[tarfile.TarInfo, bytes], list[tuple[tarfile.TarInfo, bytes]]],
    fragment: str,
) -> None:
    good = tmp_path / "good.tar"
    assert bundle_cmd("pack", str(bundle), "-o", str(good)) == 0
    bad = tmp_path / "bad.tar"
    _rewrite(good, bad, change)
    dest = tmp_path / "out" / "pypi"
    capsys.readouterr()
    assert bundle_cmd("unpack", str(bad), "-o", str(dest)) == 1
    err = capsys.readouterr().err
    assert fragment in err, err
    assert "Traceback" not in err
    assert not dest.exists()
    assert leftovers(dest.parent, "pypi") == []
    assert not (tmp_path / "x").exists() and not Path("/tmp/bundler-owned").exists()


def test_unpack_refuses_a_truncated_or_garbled_archive(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = tmp_path / "good.tar.gz"
    assert bundle_cmd("pack", str(bundle), "-o", str(good)) == 0
    data = good.read_bytes()
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(data[: len(data) // 2])
    garbled = tmp_path / "garbled.tar.gz"
    garbled.write_bytes(gzip.compress(b"this is no tar archive" * 100))
    for archive in (cut, garbled):
        dest = tmp_path / f"{archive.name}.out"
        assert bundle_cmd("unpack", str(archive), "-o", str(dest)) == 1
        assert "Traceback" not in capsys.readouterr().err
        assert not dest.exists()
        assert leftovers(tmp_path, dest.name) == []


def test_unpack_into_an_existing_directory(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    archive = tmp_path / "b.tar.gz"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bundle_cmd("unpack", str(archive), "-o", str(empty)) == 0
    assert tree(empty) == tree(bundle)

    full = tmp_path / "full"
    full.mkdir()
    (full / "old.txt").write_text("old")
    assert bundle_cmd("unpack", str(archive), "-o", str(full)) == 2
    assert "--force" in capsys.readouterr().err
    assert (full / "old.txt").exists()
    assert bundle_cmd("unpack", str(archive), "-o", str(full), "--force") == 0
    assert tree(full) == tree(bundle)
    assert leftovers(tmp_path, "full") == []

    # A failing archive leaves the directory as it was, even with --force.
    bad = tmp_path / "bad.tar"
    _rewrite(archive, bad, _changed_byte)
    assert bundle_cmd("unpack", str(bad), "-o", str(full), "--force") == 1
    assert tree(full) == tree(bundle)

    not_dir = tmp_path / "file"
    not_dir.write_text("x")
    assert bundle_cmd("unpack", str(archive), "-o", str(not_dir)) == 2
    assert bundle_cmd("unpack", str(tmp_path / "absent.tar"), "-o", str(empty)) == 2


@pytest.mark.parametrize("swap", [True, False], ids=["renameat2", "two-renames"])
def test_force_replaces_a_full_directory(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, swap: bool
) -> None:
    archive = tmp_path / "b.tar"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    full = tmp_path / "full"
    (full / "files").mkdir(parents=True)
    (full / "files" / "old.whl").write_text("old")
    if not swap:  # a system without an atomic exchange
        monkeypatch.setattr(fsutil, "exchange", lambda a, b: False)
    assert bundle_cmd("unpack", str(archive), "-o", str(full), "--force") == 0
    assert tree(full) == tree(bundle)
    assert leftovers(tmp_path, "full") == []


def test_a_huge_member_is_refused_unread(
    bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "b.tar"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    monkeypatch.setattr(pack, "MAX_UNSIZED_MEMBER", 100)
    dest = tmp_path / "unpacked"
    assert bundle_cmd("unpack", str(archive), "-o", str(dest)) == 1
    assert "bytes: too big" in capsys.readouterr().err
    assert not dest.exists()


def test_a_huge_page_is_refused_unread(
    bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "b.tar"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    limit = (bundle / "bundle.json").stat().st_size
    monkeypatch.setattr(pack, "MAX_UNSIZED_MEMBER", limit)

    def padded(m: tarfile.TarInfo, data: bytes) -> list[tuple[tarfile.TarInfo, bytes]]:
        if m.name == "simple/index.html":
            body = data + b" " * limit
            return [(_file(m.name, body), body)]
        return [(m, data)]

    bad = tmp_path / "bad.tar"
    _rewrite(archive, bad, padded)
    dest = tmp_path / "unpacked"
    assert bundle_cmd("unpack", str(bad), "-o", str(dest)) == 1
    assert "'simple/index.html' has" in capsys.readouterr().err
    assert not dest.exists()


def test_a_full_disk_while_unpacking_is_not_blamed_on_the_archive(
    bundle: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    archive = tmp_path / "carried.tar"
    assert bundle_cmd("pack", str(bundle), "-o", str(archive)) == 0
    real = os.open

    def full(path: Any, flags: int, *args: Any, **kwargs: Any) -> int:
        if flags & os.O_EXCL and f"{os.sep}files{os.sep}" in str(path):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", full)
    dest = tmp_path / "out"
    assert run(["unpack", str(archive), "-o", str(dest)]) == 1
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert f"no space left on device while updating {dest}; it is unchanged" in err
    assert "not a readable bundle archive" not in err and "copy it again" not in err
    assert not dest.exists() and leftovers(tmp_path, "out") == []
