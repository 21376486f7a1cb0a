"""Which file of a release a target installs (pip's order)."""

from __future__ import annotations

from packaging.utils import canonicalize_name
from packaging.version import Version

from bundler.models import DistKind, IndexFile
from bundler.spec.selection import BinaryPolicy, best_file, usable_files
from bundler.spec.target import make_target

LINUX = make_target("3.11", "linux")


def wheel(filename: str, **extra: object) -> IndexFile:
    return IndexFile(
        filename=filename,
        url=f"https://example.invalid/{filename}",
        project=canonicalize_name("foo"),
        version=Version("1.0"),
        kind=DistKind.WHEEL,
        **extra,  # type: ignore[arg-type]
    )


def test_most_specific_tag_wins() -> None:
    files = [
        wheel("foo-1.0-py3-none-any.whl"),
        wheel("foo-1.0-cp311-abi3-manylinux_2_17_x86_64.whl"),
        wheel("foo-1.0-cp311-cp311-manylinux_2_17_x86_64.whl"),
    ]
    assert best_file(files, LINUX) == files[2]


def test_highest_build_tag_wins_among_equal_tags() -> None:
    files = [wheel(f"foo-1.0-{b}-py3-none-any.whl") for b in ("1", "10", "9")]
    chosen = best_file(files, LINUX)
    assert chosen is not None and chosen.filename == "foo-1.0-10-py3-none-any.whl"


def test_a_build_tags_text_breaks_a_tie_of_its_number_upwards() -> None:
    # The wheel spec: (number, rest of the tag) compared as a tuple, and pip
    # takes the highest, so 1b over 1a, and any build tag over none.
    files = [wheel(f"foo-1.0-{b}-py3-none-any.whl") for b in ("1a", "1b", "1")]
    chosen = best_file(files, LINUX)
    assert chosen is not None and chosen.filename == "foo-1.0-1b-py3-none-any.whl"
    untagged = [wheel("foo-1.0-py3-none-any.whl"), wheel("foo-1.0-0-py3-none-any.whl")]
    chosen = best_file(untagged, LINUX)
    assert chosen is not None and chosen.filename == "foo-1.0-0-py3-none-any.whl"


def test_incompatible_and_disallowed_files_are_skipped_with_a_reason() -> None:
    files = [
        wheel("foo-1.0-cp311-cp311-win_amd64.whl"),
        wheel("foo-1.0-py3-none-any.whl", requires_python=">=3.12"),
        IndexFile(
            filename="foo-1.0.tar.gz",
            url="u",
            project=canonicalize_name("foo"),
            version=Version("1.0"),
            kind=DistKind.SDIST,
        ),
    ]
    usable, skipped = usable_files(files, LINUX, BinaryPolicy(only_binary=frozenset({":all:"})))
    assert usable == []
    reasons = sorted(s.reason for s in skipped)
    assert any("no compatible wheel tag" in r for r in reasons)
    assert any("requires Python >=3.12" in r for r in reasons)
    assert any("disallowed by the binary policy" in r for r in reasons)
