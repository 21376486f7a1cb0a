"""Core metadata parsing."""

from __future__ import annotations

import pytest
from packaging.version import Version

from bundler.errors import InvalidDistribution
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
