"""Core metadata parsing."""

from __future__ import annotations

import subprocess
import sys

import pytest
from packaging.version import Version

from bundler.errors import InvalidDistribution
from bundler.spec import metadata as metadata_module
from bundler.spec.metadata import check_matches, parse_metadata

METADATA = b"""Metadata-Version: 2.1
Name: Foo.Bar
Version: 1.0
Requires-Python: >=3.8
Requires-Dist: requests>=2
Requires-Dist: rich; extra == "Pretty_Out"
Provides-Extra: Pretty_Out
X-Custom-Field: tolerated

Long description
Requires-Dist: not a header
"""


def pkg_info(version: str = "2.2", dynamic: str | None = None, name: str = "foo-bar") -> bytes:
    text = f"Metadata-Version: {version}\nName: {name}\nVersion: 1.0\nRequires-Dist: idna\n"
    if dynamic:
        text += f"Dynamic: {dynamic}\n"
    return text.encode()


# --- parse_metadata -------------------------------------------------------------------


def test_parse_metadata_fields() -> None:
    meta = parse_metadata(METADATA, "foo.whl")
    assert meta.name == "foo-bar"
    assert meta.version == Version("1.0")
    assert meta.requires_dist == ("requests>=2", 'rich; extra == "Pretty_Out"')
    assert meta.requires_python == ">=3.8"
    assert meta.provides_extra == ("pretty-out",)


def test_parse_metadata_bad_requires_dist_names_source_and_line() -> None:
    content = (
        b"Metadata-Version: 2.1\nName: x\nVersion: 1\nRequires-Dist: ok\nRequires-Dist: bad[\n"
    )
    with pytest.raises(InvalidDistribution) as info:
        parse_metadata(content, "x-1-py3-none-any.whl")
    message = str(info.value)
    assert "x-1-py3-none-any.whl" in message
    assert "line 5" in message
    assert "bad[" in message


@pytest.mark.parametrize(
    "content",
    [
        b"Metadata-Version: 2.1\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: -bad-\nVersion: 1.0\n",
        b"Metadata-Version: 2.1\nName: x\nVersion: not.a.version!\n",
        b"Metadata-Version: 2.1\nName: x\nName: y\nVersion: 1\n",
        b"",
    ],
)
def test_parse_metadata_requires_valid_name_and_version(content: bytes) -> None:
    with pytest.raises(InvalidDistribution, match="src"):
        parse_metadata(content, "src")


def test_invalid_requires_python_is_ignored_like_pip() -> None:
    meta = parse_metadata(b"Name: x\nVersion: 1\nRequires-Python: >=3.6.*\n", "src")
    assert meta.requires_python is None


def test_check_matches() -> None:
    meta = parse_metadata(METADATA, "s")
    check_matches(meta, meta.name, Version("1.0"), "w")
    with pytest.raises(InvalidDistribution, match=r"filename says foo-bar 2\.0"):
        check_matches(meta, meta.name, Version("2.0"), "w")


# --- the header reader against packaging's parse_email ----------------------------------

_FIELDS = (
    "metadata_version",
    "name",
    "version",
    "requires_python",
    "requires_dist",
    "provides_extra",
    "dynamic",
)
_CORPUS: dict[str, bytes] = {
    "plain": METADATA,
    "CRLF": METADATA.replace(b"\n", b"\r\n"),
    "CR": METADATA.replace(b"\n", b"\r"),
    "no final line ending": b"Name: x\nVersion: 1\nRequires-Dist: a",
    "continuation lines": (
        b"Name: x\nVersion: 1\nRequires-Dist: a;\n  python_version > '3'\n"
        b"Description: one\n\ttwo\n        three\nRequires-Dist: b\n"
    ),
    "a blank continuation": b"Name: x\n \nVersion: 1\n",
    "continuation before any field": b"  stray\nName: x\nVersion: 1\n",
    "a field without a name": b"Name: x\n: orphan\n  and its continuation\nVersion: 1\n",
    "case of names": b"NAME: x\nversion: 1\nrequires-dist: a\nREQUIRES-DIST: b\n",
    "no space after the colon": b"Name:x\nVersion:\t1\nRequires-Python:>=3\n",
    "spaces kept at the end": b"Name: x  \nVersion: 1\t\n",
    "a name with a space before the colon ends the block": b"Name: x\nVersion : 1\nDynamic: a\n",
    "a body line ends the block": b"Name: x\nthis is the body\nVersion: 1\n",
    "a field in the body": b"Name: x\nVersion: 1\n\nRequires-Dist: body\n",
    "repeated name": b"Name: x\nName: y\nVersion: 1\n",
    "repeated version": b"Name: x\nVersion: 1\nVersion: 2\n",
    "empty": b"",
    "only a body": b"\nName: x\n",
    "non-ASCII elsewhere": "Name: x\nVersion: 1\nAuthor: Sébastien\n".encode(),
    "non-ASCII, not UTF-8, elsewhere": b"Name: x\nVersion: 1\nAuthor: S\xe9bastien\n",
    "non-ASCII in a field read": "Name: x\nVersion: 1\nRequires-Dist: é\n".encode(),
    "envelope line": b"From nobody\nName: x\nVersion: 1\n",
    "envelope line inside": b"Name: x\nFrom nobody\nVersion: 1\n",
    "odd field names": b"X-Odd_Name!: 1\nName: x\n~: y\nVersion: 1\nDynamic: Requires-Dist\n",
    "form feed and vertical tab": b"Name: x\x0c\nVersion: 1\x0b2\n",
}


@pytest.mark.parametrize("name", sorted(_CORPUS))
def test_fields_read_as_packaging_reads_them(name: str) -> None:
    from packaging.metadata import parse_email

    content = _CORPUS[name]
    raw, unparsed = parse_email(content)
    read = metadata_module._read_fields(content)
    if read is None:  # the email package decides
        assert name in ("non-ASCII in a field read", "envelope line", "envelope line inside")
        return
    fast_raw, fast_unparsed = read
    assert {k: fast_raw.get(k) for k in _FIELDS} == {k: raw.get(k) for k in _FIELDS}
    mine = {"name", "version", "metadata-version", "requires-python"}
    assert fast_unparsed == {k: v for k, v in unparsed.items() if k in mine}


def test_metadata_is_read_without_the_email_package() -> None:
    code = (
        "import sys; from bundler.spec.metadata import parse_metadata;"
        f" parse_metadata({METADATA!r}, 's'); print('email.parser' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
