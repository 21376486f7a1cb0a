"""Reading core metadata out of wheels and sdists, and unpacking sdists."""

from __future__ import annotations

import io
import json
import os
import re
import struct
import subprocess
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import packaging
import pytest
from packaging.version import Version

import bundler
from bundler.errors import InvalidDistribution
from bundler.runtime.interpreters import find_interpreters
from bundler.spec.archives import extract_sdist, sdist_metadata, wheel_metadata
from bundler.spec.metadata import MAX_METADATA_SIZE
from tests.spec.test_metadata import METADATA, pkg_info


def make_wheel(
    path: Path, entries: list[tuple[str, bytes]], *, compression: int = zipfile.ZIP_DEFLATED
) -> Path:
    with zipfile.ZipFile(path, "w", compression) as zf:
        for name, data in entries:
            zf.writestr(name, data)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    with tarfile.open(path, "w:gz") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return path


# --- wheels -------------------------------------------------------------------------------


def test_wheel_metadata_from_path_and_file_object(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "Foo.Bar-1.0-py3-none-any.whl",
        [
            ("foo/__init__.py", b""),
            ("foo_bar-1.0.dist-info/METADATA", METADATA),
            ("foo_bar-1.0.dist-info/RECORD", b""),
        ],
    )
    assert wheel_metadata(wheel, wheel.name) == METADATA
    with wheel.open("rb") as fh:
        assert wheel_metadata(fh, wheel.name) == METADATA


def test_wheel_metadata_tolerates_case_and_unnormalized_dir(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "foo_bar-1.0-py3-none-any.whl", [("Foo.Bar-1.0.DIST-INFO/METADATA", METADATA)]
    )
    assert wheel_metadata(wheel, wheel.name) == METADATA


def test_wheel_metadata_picks_own_dist_info_among_several(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "foo_bar-1.0-py3-none-any.whl",
        [
            ("vendored-2.0.dist-info/METADATA", b"Name: vendored"),
            ("foo_bar-1.0.dist-info/METADATA", METADATA),
        ],
    )
    assert wheel_metadata(wheel, wheel.name) == METADATA


def test_wheel_duplicate_entries_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "foo_bar-1.0-py3-none-any.whl"
    with pytest.warns(UserWarning, match="Duplicate name"):
        make_wheel(
            path,
            [
                ("foo_bar-1.0.dist-info/METADATA", METADATA),
                ("foo_bar-1.0.dist-info/METADATA", b"x"),
            ],
        )
    with pytest.raises(InvalidDistribution, match="duplicate"):
        wheel_metadata(path, path.name)


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([("foo/__init__.py", b"")], "exactly one .dist-info"),
        ([("other-1.0.dist-info/METADATA", METADATA)], "does not belong"),
        (
            [("foo_bar-1.0.dist-info/METADATA", METADATA), ("foo_bar-1.0.dist-info/metadata", b"")],
            "exactly one",
        ),
    ],
)
def test_wheel_without_its_metadata_is_refused(
    tmp_path: Path, entries: list[tuple[str, bytes]], message: str
) -> None:
    wheel = make_wheel(tmp_path / "foo_bar-1.0-py3-none-any.whl", entries)
    with pytest.raises(InvalidDistribution, match=message):
        wheel_metadata(wheel, wheel.name)


def test_wheel_huge_metadata_is_refused(tmp_path: Path) -> None:
    wheel = make_wheel(
        tmp_path / "foo_bar-1.0-py3-none-any.whl",
        [("foo_bar-1.0.dist-info/METADATA", b"x" * (MAX_METADATA_SIZE + 1))],
    )
    with pytest.raises(InvalidDistribution, match="bytes"):
        wheel_metadata(wheel, wheel.name)


def test_not_a_zip_is_invalid_distribution(tmp_path: Path) -> None:
    path = tmp_path / "foo_bar-1.0-py3-none-any.whl"
    path.write_bytes(b"this is not a zip file at all")
    with pytest.raises(InvalidDistribution, match=r"foo_bar-1\.0-py3-none-any\.whl"):
        wheel_metadata(path, path.name)


def test_wheel_metadata_rejects_non_wheel_filename(tmp_path: Path) -> None:
    with pytest.raises(InvalidDistribution, match="wheel filename"):
        wheel_metadata(tmp_path / "x", "foo-1.0.tar.gz")


def _zipfile_metadata(path: Path) -> bytes:
    """What ``zipfile`` reads as the wheel's METADATA (the reference)."""
    with zipfile.ZipFile(path) as zf:
        return zf.read("foo_bar-1.0.dist-info/METADATA")


ENTRIES = [
    ("foo/__init__.py", b"x = 1\n" * 50),
    ("foo/caf\u00e9.txt", b"non-ASCII name (UTF-8 flag)"),
    ("foo_bar-1.0.dist-info/METADATA", METADATA),
    ("foo_bar-1.0.dist-info/RECORD", b""),
]


@pytest.mark.parametrize("compression", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED])
@pytest.mark.parametrize("comment", [b"", b"an archive comment"])
def test_wheel_metadata_reads_what_zipfile_reads(
    tmp_path: Path, compression: int, comment: bytes
) -> None:
    wheel = make_wheel(tmp_path / "foo_bar-1.0-py3-none-any.whl", ENTRIES, compression=compression)
    with zipfile.ZipFile(wheel, "a") as zf:
        zf.comment = comment
    assert wheel_metadata(wheel, wheel.name) == _zipfile_metadata(wheel) == METADATA


def test_names_without_the_utf8_flag_are_code_page_437(tmp_path: Path) -> None:
    # Byte 0x82 in a name without flag bit 11 is "é" in code page 437, as
    # zipfile reads it: then two entries are named "foo/café.txt".
    wheel = make_wheel(
        tmp_path / "foo_bar-1.0-py3-none-any.whl", [*ENTRIES, ("foo/cafX.txt", b"cp437")]
    )
    data = wheel.read_bytes()
    assert data.count(b"foo/cafX.txt") == 2  # local and central records
    wheel.write_bytes(data.replace(b"foo/cafX.txt", b"foo/caf\x82.txt"))
    with zipfile.ZipFile(wheel) as zf:
        assert zf.namelist().count("foo/caf\u00e9.txt") == 2
    with pytest.raises(InvalidDistribution, match=r"duplicate archive entries: foo/caf\u00e9\.txt"):
        wheel_metadata(wheel, wheel.name)
    # Without the UTF-8 one, the archive is a good one.
    (tmp_path / "alone").mkdir()
    entries = [e for e in ENTRIES if e[0].isascii()] + [("foo/cafX.txt", b"cp437")]
    alone = make_wheel(tmp_path / "alone" / wheel.name, entries)
    alone.write_bytes(alone.read_bytes().replace(b"foo/cafX.txt", b"foo/caf\x82.txt"))
    with zipfile.ZipFile(alone) as zf:
        assert "foo/caf\u00e9.txt" in zf.namelist()
    assert wheel_metadata(alone, alone.name) == METADATA


def _with_record_extra(directory: Path, extra: bytes) -> Path:
    """The ENTRIES wheel in ``directory``, its RECORD entry with ``extra``."""
    directory.mkdir()
    wheel = directory / "foo_bar-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in ENTRIES:
            info = zipfile.ZipInfo(name)
            if name.endswith("RECORD"):
                info.extra = extra
            zf.writestr(info, data)
    return wheel


def _central_offset(data: bytes, name: str) -> int:
    """Where the central directory record of ``name`` starts."""
    at = data.rfind(b"PK\x01\x02", 0, data.rfind(name.encode()))
    assert at >= 0
    return at


def test_unusual_archives_are_read_as_zipfile_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Data before the archive (a self-extracting stub): zipfile finds it anyway.
    plain = make_wheel(tmp_path / "plain.zip", ENTRIES)
    prefixed = tmp_path / "foo_bar-1.0-py3-none-any.whl"
    prefixed.write_bytes(b"#!/bin/sh\nexit 0\n" + plain.read_bytes())
    assert wheel_metadata(prefixed, prefixed.name) == _zipfile_metadata(prefixed)
    # ZIP64 end records (zipfile writes them past this many entries).
    zip64 = tmp_path / "z64" / "foo_bar-1.0-py3-none-any.whl"
    zip64.parent.mkdir()
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    make_wheel(zip64, ENTRIES)
    monkeypatch.undo()
    assert b"PK\x06\x06" in zip64.read_bytes()
    assert wheel_metadata(zip64, zip64.name) == _zipfile_metadata(zip64) == METADATA
    # An Info-ZIP Unicode Path extra field (0x7075): only some Pythons read it.
    unicode_path = _with_record_extra(
        tmp_path / "up", struct.pack("<2H", 0x7075, 5) + b"\x01" + b"\0" * 4
    )
    assert wheel_metadata(unicode_path, unicode_path.name) == _zipfile_metadata(unicode_path)
    # A comment holding the end record's signature: not taken for the record
    # (zipfile, and so pip, cannot read such an archive either).
    trick = make_wheel(tmp_path / "foo_bar-1.0-py3-none-any.whl", ENTRIES)
    with zipfile.ZipFile(trick, "a") as zf:
        zf.comment = b"PK\x05\x06 and more"
    with pytest.raises(InvalidDistribution, match="cannot read the wheel"):
        wheel_metadata(trick, trick.name)


def _patched(tmp_path: Path, name: str, patch: Callable[[bytearray, int], None]) -> Path:
    """A copy of the ENTRIES wheel with ``name``'s central record patched."""
    (tmp_path / name).mkdir()
    wheel = make_wheel(tmp_path / name / "foo_bar-1.0-py3-none-any.whl", ENTRIES)
    data = bytearray(wheel.read_bytes())
    patch(data, _central_offset(bytes(data), "foo_bar-1.0.dist-info/METADATA"))
    wheel.write_bytes(bytes(data))
    return wheel


def test_what_zipfile_refuses_is_refused(tmp_path: Path) -> None:
    def newer_zip_version(data: bytearray, at: int) -> None:
        data[at + 6] = 64  # "version needed to extract": 6.4

    def patch_data_flag(data: bytearray, at: int) -> None:
        data[at + 8] |= 0x20  # compressed patched data

    def strong_encryption(data: bytearray, at: int) -> None:
        data[at + 8] |= 0x40

    def huge_compressed_size(data: bytearray, at: int) -> None:
        struct.pack_into("<L", data, at + 20, 5_000_000)  # says 5 MB of deflate

    for patch in (newer_zip_version, patch_data_flag, strong_encryption):
        wheel = _patched(tmp_path, patch.__name__, patch)
        with pytest.raises(InvalidDistribution, match="cannot read the wheel"):
            wheel_metadata(wheel, wheel.name)
    # A compressed size out of proportion is not read whole into memory:
    # zipfile streams the entry, and stops at its real end.
    wheel = _patched(tmp_path, "huge", huge_compressed_size)
    assert wheel_metadata(wheel, wheel.name) == METADATA
    # An extra field that runs past its entry: zipfile calls it corrupt.
    corrupt = _with_record_extra(tmp_path / "extra", struct.pack("<2H", 0xCAFE, 40) + b"\0" * 4)
    with pytest.raises(InvalidDistribution, match=r"(?i)corrupt extra field"):
        wheel_metadata(corrupt, corrupt.name)


def test_damaged_wheels_are_refused(tmp_path: Path) -> None:
    wheel = make_wheel(tmp_path / "foo_bar-1.0-py3-none-any.whl", ENTRIES)
    data = bytes(wheel.read_bytes())
    with zipfile.ZipFile(wheel) as zf:
        info = zf.getinfo("foo_bar-1.0.dist-info/METADATA")

    def read(damaged: bytes) -> bytes:
        return wheel_metadata(io.BytesIO(damaged), wheel.name)

    # Flip a byte of METADATA's compressed data: the CRC-32 no longer matches.
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    crc = bytearray(data)
    crc[start + info.compress_size // 2] ^= 0x55
    # A local header naming another file than the central directory does.
    renamed = bytearray(data)
    at = info.header_offset + 30
    renamed[at : at + 3] = b"bar"
    for damaged in (crc, renamed):
        with pytest.raises(InvalidDistribution, match="cannot read the wheel"):
            read(bytes(damaged))
        wheel.write_bytes(bytes(damaged))
        with pytest.raises(InvalidDistribution, match="cannot read the wheel"):
            wheel_metadata(wheel, wheel.name)
    # The last record's lengths run past the central directory: what zipfile reads.
    overrun = bytearray(data)
    last = _central_offset(data, ENTRIES[-1][0])
    struct.pack_into("<H", overrun, last + 30, 0xFFFF)  # its extra field length
    assert read(bytes(overrun)) == METADATA
    wheel.write_bytes(bytes(overrun))
    assert wheel_metadata(wheel, wheel.name) == _zipfile_metadata(wheel) == METADATA


# --- sdists -------------------------------------------------------------------------------


def test_sdist_static_metadata(tmp_path: Path) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz",
        [
            ("foo_bar-1.0/PKG-INFO", pkg_info()),
            ("foo_bar-1.0/src/foo_bar/PKG-INFO", b"not this one"),
            ("foo_bar-1.0/pyproject.toml", b""),
        ],
    )
    meta = sdist_metadata(sdist, sdist.name)
    assert meta is not None
    assert meta.name == "foo-bar"
    assert meta.requires_dist == ("idna",)


@pytest.mark.parametrize(
    ("version", "dynamic"),
    [("2.1", None), ("1.0", None), ("2.2", "Requires-Dist"), ("2.4", "requires-python")],
)
def test_sdist_dynamic_metadata_is_none(tmp_path: Path, version: str, dynamic: str | None) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz", [("foo_bar-1.0/PKG-INFO", pkg_info(version, dynamic))]
    )
    assert sdist_metadata(sdist, sdist.name) is None


def test_sdist_dynamic_field_not_affecting_resolution_is_static(tmp_path: Path) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz", [("foo_bar-1.0/PKG-INFO", pkg_info("2.2", "Summary"))]
    )
    assert sdist_metadata(sdist, sdist.name) is not None


def test_sdist_zip(tmp_path: Path) -> None:
    sdist = make_wheel(tmp_path / "foo_bar-1.0.zip", [("foo_bar-1.0/PKG-INFO", pkg_info())])
    meta = sdist_metadata(sdist, sdist.name)
    assert meta is not None
    assert meta.version == Version("1.0")


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def _device(name: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.CHRTYPE
    return info


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        (("foo_bar-1.0/../../evil", b"x"), r"'\.\.'"),
        (("/etc/evil", b"x"), "absolute"),
        (_link("foo_bar-1.0/link", "../../etc/passwd"), "out of the tree"),
        (_link("foo_bar-1.0/link", "/etc/passwd"), "absolute"),
        (_link("foo_bar-1.0/hard", "../outside", tarfile.LNKTYPE), "out of the tree"),
        (_device("foo_bar-1.0/dev"), "device"),
    ],
)
def test_malicious_sdist_is_refused(
    tmp_path: Path, member: tarfile.TarInfo | tuple[str, bytes], reason: str
) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz", [("foo_bar-1.0/PKG-INFO", pkg_info()), member]
    )
    with pytest.raises(InvalidDistribution, match=reason):
        sdist_metadata(sdist, sdist.name)


def test_symlink_inside_the_tree_is_fine(tmp_path: Path) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz",
        [("foo_bar-1.0/PKG-INFO", pkg_info()), _link("foo_bar-1.0/docs/link", "../README")],
    )
    assert sdist_metadata(sdist, sdist.name) is not None


def test_malicious_zip_sdist_is_refused(tmp_path: Path) -> None:
    sdist = make_wheel(
        tmp_path / "foo_bar-1.0.zip", [("foo_bar-1.0/PKG-INFO", pkg_info()), ("../evil", b"x")]
    )
    with pytest.raises(InvalidDistribution, match=r"'\.\.'"):
        sdist_metadata(sdist, sdist.name)
    link = zipfile.ZipInfo("foo_bar-1.0/link")
    link.external_attr = (0o120777) << 16
    with zipfile.ZipFile(sdist, "w") as zf:
        zf.writestr("foo_bar-1.0/PKG-INFO", pkg_info())
        zf.writestr(link, "/etc/passwd")
    with pytest.raises(InvalidDistribution, match="symbolic link"):
        sdist_metadata(sdist, sdist.name)


def test_sdist_without_pkg_info_or_corrupt(tmp_path: Path) -> None:
    sdist = make_tar(tmp_path / "foo_bar-1.0.tar.gz", [("foo_bar-1.0/setup.py", b"")])
    with pytest.raises(InvalidDistribution, match="no top-level PKG-INFO"):
        sdist_metadata(sdist, sdist.name)
    broken = tmp_path / "foo_bar-2.0.tar.gz"
    broken.write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(InvalidDistribution, match=r"foo_bar-2\.0\.tar\.gz"):
        sdist_metadata(broken, broken.name)


# --- links in sdists ---------------------------------------------------------------


def _file(name: str, data: bytes = b"x") -> tuple[str, bytes]:
    return (name, data)


@pytest.mark.parametrize(
    ("members", "reason"),
    [
        pytest.param(
            [_link("foo_bar-1.0/sub", "."), _file("foo_bar-1.0/sub/evil")],
            "'foo_bar-1.0/sub/evil': its path goes through the link 'foo_bar-1.0/sub'",
            id="file-through-symlink",
        ),
        pytest.param(
            [_file("foo_bar-1.0/Sub/evil"), _link("foo_bar-1.0/sub", ".")],
            "'foo_bar-1.0/Sub/evil': its path goes through the link 'foo_bar-1.0/sub'",
            id="link-after-the-file-other-case",
        ),
        pytest.param(
            [_link("foo_bar-1.0/here", "."), _link("foo_bar-1.0/up", "here/../..")],
            "'foo_bar-1.0/up': its target 'here/../..' goes through the link 'foo_bar-1.0/here'",
            id="symlink-through-symlink",
        ),
        pytest.param(
            [
                _link("foo_bar-1.0/s", "."),
                _link("foo_bar-1.0/h", "foo_bar-1.0/s/x", tarfile.LNKTYPE),
            ],
            "'foo_bar-1.0/h': its target 'foo_bar-1.0/s/x' goes through the link 'foo_bar-1.0/s'",
            id="hardlink-through-symlink",
        ),
        pytest.param(
            [
                _file("foo_bar-1.0/a"),
                _link("foo_bar-1.0/h", "foo_bar-1.0/a", tarfile.LNKTYPE),
                _file("foo_bar-1.0/h"),
            ],
            "'foo_bar-1.0/h': its name is also a link's",
            id="file-over-hardlink",
        ),
    ],
)
def test_members_redirected_by_links_are_refused(
    tmp_path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]], reason: str
) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz", [("foo_bar-1.0/PKG-INFO", pkg_info()), *members]
    )
    with pytest.raises(InvalidDistribution, match=re.escape(reason)):
        sdist_metadata(sdist, sdist.name)
    with pytest.raises(InvalidDistribution, match=re.escape(reason)):
        extract_sdist(sdist, sdist.name, tmp_path / "out")
    assert not (tmp_path / "out" / "foo_bar-1.0").exists()


def test_chained_links_inside_the_tree_are_fine(tmp_path: Path) -> None:
    sdist = make_tar(
        tmp_path / "foo_bar-1.0.tar.gz",
        [
            ("foo_bar-1.0/PKG-INFO", pkg_info()),
            ("foo_bar-1.0/docs/README", b"read me"),
            _link("foo_bar-1.0/README", "docs/README"),
            _link("foo_bar-1.0/README.txt", "README"),
            _link("foo_bar-1.0/docs/copy", "foo_bar-1.0/docs/README", tarfile.LNKTYPE),
        ],
    )
    tree = extract_sdist(sdist, sdist.name, tmp_path / "out")
    assert (tree / "README.txt").read_bytes() == b"read me"
    assert (tree / "docs" / "copy").read_bytes() == b"read me"


def write_realpath_overflow_sdist(path: Path, dest: Path) -> None:
    """An sdist in the shape of CVE-2025-4517: links to directories with
    names long enough that ``os.path.realpath`` stops expanding, a link
    back up through them, and a file written through the result."""
    top = "foo_bar-1.0"
    steps = "abcdefghijklmnop"
    max_path = os.pathconf("/", "PC_PATH_MAX")
    component = "d" * ((max_path - len(str(dest)) - len(top) - 2) // (len(steps) + 1))
    members: list[tarfile.TarInfo | tuple[str, bytes]] = [(f"{top}/PKG-INFO", pkg_info())]
    parent = top
    for step in steps:
        directory = tarfile.TarInfo(f"{parent}/{component}")
        directory.type, directory.mode = tarfile.DIRTYPE, 0o755
        members += [directory, _link(f"{parent}/{step}", component)]
        parent = f"{parent}/{component}"
    deep = "/".join([top, *steps, "l" * 254])
    members.append(_link(deep, "/".join([".."] * len(steps))))
    members.append(_link(f"{top}/escape", deep[len(top) + 1 :] + "/../.."))
    members.append((f"{top}/escape/written-outside", b"escaped"))
    make_tar(path, members)


_EXTRACT = """
import json, sys
from pathlib import Path
from bundler.errors import InvalidDistribution
from bundler.spec.archives import extract_sdist
try:
    extract_sdist(Path(sys.argv[1]), Path(sys.argv[1]).name, Path(sys.argv[2]))
    print(json.dumps("extracted"))
except InvalidDistribution as err:
    print(json.dumps(str(err)))
"""


@pytest.mark.skipif(not hasattr(os, "pathconf"), reason="needs os.pathconf (POSIX)")
@pytest.mark.parametrize("python", ["3.10", "3.11", "3.12", "3.13"])
def test_realpath_overflow_links_write_nothing_outside(tmp_path: Path, python: str) -> None:
    """Refused on every Python bundler runs on, whatever its tarfile filter does."""
    found = [
        i for i in find_interpreters() if i.python_short == python and i.implementation == "cpython"
    ]
    if not found:
        pytest.skip(f"no CPython {python} interpreter on this machine")
    # bundler and packaging only: the interpreter may have neither installed.
    libs = tmp_path / "libs"
    libs.mkdir()
    (libs / "packaging").symlink_to(Path(packaging.__file__).parent)
    (libs / "bundler").symlink_to(Path(bundler.__file__).parent)
    dest = tmp_path / "work" / "prepare" / "src"
    sdist = tmp_path / "foo_bar-1.0.tar.gz"
    write_realpath_overflow_sdist(sdist, dest)

    done = subprocess.run(
        [
            found[0].path,
            "-I",
            "-B",
            "-c",
            f"import sys; sys.path.insert(0, {str(libs)!r})\n{_EXTRACT}",
            str(sdist),
            str(dest),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    message = json.loads(done.stdout)
    assert "'foo_bar-1.0/a/b/c/d/" in message
    assert "its path goes through the link 'foo_bar-1.0/a'" in message
    assert list(tmp_path.rglob("written-outside")) == []
    assert not (tmp_path / "work" / "prepare" / "src" / "foo_bar-1.0").exists()


def test_realpath_overflow_links_in_this_python(tmp_path: Path) -> None:
    dest = tmp_path / "work" / "src"
    sdist = tmp_path / "foo_bar-1.0.tar.gz"
    write_realpath_overflow_sdist(sdist, dest)
    with pytest.raises(InvalidDistribution, match=r"goes through the link 'foo_bar-1\.0/a'"):
        extract_sdist(sdist, sdist.name, dest)
    assert list(tmp_path.rglob("written-outside")) == []
