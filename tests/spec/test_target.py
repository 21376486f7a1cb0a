"""Targets are built for the environment they describe, never the host."""

from __future__ import annotations

import pytest
from packaging.markers import Marker
from packaging.tags import Tag, parse_tag

from bundler.errors import UsageError
from bundler.spec.target import host_target, make_target, parse_python_version, target_from_name


def platforms(t: object) -> list[str]:
    return list(dict.fromkeys(tag.platform for tag in t.tags))  # type: ignore[attr-defined]


def test_manylinux_ladder_has_every_level_and_legacy_aliases() -> None:
    t = make_target("3.11", "manylinux_2_28_x86_64")
    plats = platforms(t)
    assert plats[0] == "manylinux_2_28_x86_64"
    for expected in (
        "manylinux_2_17_x86_64",
        "manylinux2014_x86_64",
        "manylinux2010_x86_64",
        "manylinux1_x86_64",
        "manylinux_2_5_x86_64",
        "linux_x86_64",
    ):
        assert expected in plats
    assert "manylinux_2_29_x86_64" not in plats
    assert plats.index("manylinux_2_28_x86_64") < plats.index("manylinux_2_17_x86_64")
    assert Tag("cp311", "abi3", "manylinux2014_x86_64") in t.tags
    assert Tag("py3", "none", "any") in t.tags
    assert Tag("cp312", "cp312", "manylinux_2_17_x86_64") not in t.tags


def test_legacy_name_and_aarch64_has_no_manylinux1() -> None:
    plats = platforms(make_target("3.12", "manylinux2014_aarch64"))
    assert plats[0] == "manylinux_2_17_aarch64"
    assert "manylinux2014_aarch64" in plats
    assert "manylinux1_aarch64" not in plats


@pytest.mark.parametrize(
    ("platform", "sys_platform", "system", "os_name", "machine"),
    [
        ("windows", "win32", "Windows", "nt", "AMD64"),
        ("win_arm64", "win32", "Windows", "nt", "ARM64"),
        ("linux-aarch64", "linux", "Linux", "posix", "aarch64"),
        ("macos", "darwin", "Darwin", "posix", "arm64"),
        ("macosx_10_13_x86_64", "darwin", "Darwin", "posix", "x86_64"),
        ("musllinux_1_2_x86_64", "linux", "Linux", "posix", "x86_64"),
    ],
)
def test_marker_environment_per_platform(
    platform: str, sys_platform: str, system: str, os_name: str, machine: str
) -> None:
    t = make_target("3.10", platform)
    env = t.environment
    assert (
        env["sys_platform"],
        env["platform_system"],
        env["os_name"],
        env["platform_machine"],
    ) == (sys_platform, system, os_name, machine)
    assert env["python_version"] == "3.10"
    assert env["python_full_version"] == "3.10.0"
    assert t.evaluate_marker(
        Marker(f'sys_platform == "{sys_platform}" and python_version < "3.11"')
    )
    assert not t.evaluate_marker(Marker('python_version >= "3.11"'))


def test_macos_ladder_includes_older_versions_and_universal2() -> None:
    plats = platforms(make_target("3.12", "macosx_11_0_arm64"))
    assert "macosx_11_0_universal2" in plats
    assert "macosx_11_0_arm64" in plats
    assert "macosx_12_0_arm64" not in plats


@pytest.mark.parametrize(
    ("alias", "arch", "older"),
    [("macos", "arm64", "macosx_11_0_arm64"), ("macos-x86_64", "x86_64", "macosx_10_13_x86_64")],
)
def test_macos_aliases_take_the_macos_14_wheels_of_today(alias: str, arch: str, older: str) -> None:
    # numpy and scipy publish macosx_14_0 wheels: the alias must take them,
    # and still take wheels built for older macOS releases.
    t = make_target("3.12", alias)
    assert t.name == f"cp312-macosx_14_0_{arch}"
    plats = platforms(t)
    assert f"macosx_14_0_{arch}" in plats and older in plats
    assert f"macosx_15_0_{arch}" not in plats


def test_requires_python_uses_target_version() -> None:
    t = make_target("3.9.21", "linux")
    assert t.python_matches(">=3.9")
    assert not t.python_matches(">=3.10")
    assert t.python_matches("garbage")  # unparsable is ignored, as pip does


@pytest.mark.parametrize("bad", ["solaris", "manylinux_2_28_sparc", "macosx_11_0_ppc"])
def test_unknown_platform_is_usage_error_listing_forms(bad: str) -> None:
    with pytest.raises(UsageError) as info:
        make_target("3.11", bad)
    assert info.value.exit_code == 2
    assert "win_amd64" in str(info.value)


@pytest.mark.parametrize("bad", ["2.7", "3", "three", "3.11.0rc1", "3.11.2.1"])
def test_bad_python_version(bad: str) -> None:
    with pytest.raises(UsageError):
        parse_python_version(bad)


def test_target_names_round_trip() -> None:
    for plat in ("linux", "windows", "macos", "manylinux2014_aarch64"):
        t = make_target("3.12", plat)
        again = target_from_name(t.name)
        assert again.name == t.name
        assert again.tags == t.tags
    assert target_from_name(host_target().name).is_host


def test_patch_level_is_part_of_the_name() -> None:
    exact = make_target("3.11.4", "windows")
    assert exact.name == "cp311-win_amd64@3.11.4"
    assert target_from_name(exact.name).python_full_version == "3.11.4"
    assert make_target("3.11", "windows").name == "cp311-win_amd64"
    assert make_target("3.11.0", "windows").name == "cp311-win_amd64"
    with pytest.raises(UsageError):
        target_from_name("cp311-win_amd64@3.12.1")


def test_tags_are_listed_only_when_asked_for() -> None:
    from bundler.spec.target import LazyTags

    calls = []

    def listing() -> tuple[Tag, ...]:
        calls.append(1)
        return (Tag("cp311", "cp311", "win_amd64"), Tag("py3", "none", "any"))

    tags = LazyTags(listing)
    assert not calls and repr(tags) == "LazyTags(…)"
    assert tags[0] == Tag("cp311", "cp311", "win_amd64") and len(tags) == 2
    assert list(tags) == [Tag("cp311", "cp311", "win_amd64"), Tag("py3", "none", "any")]
    assert tags == tuple(tags) and tags == LazyTags(listing) and tags != ["a list"]
    assert len(calls) == 2  # once for each LazyTags
    # A target made from a name lists them when the resolver needs them.
    target = make_target("3.12", "windows")
    assert target.wheel_rank(frozenset({Tag("cp312", "cp312", "win_amd64")})) == 0


def _wheels(*tags: str) -> list[frozenset[Tag]]:
    return [frozenset(parse_tag(t)) for t in tags]


@pytest.mark.parametrize(
    ("platform", "wheels", "says"),
    [
        (
            "macosx_11_0_arm64",
            ("cp312-cp312-macosx_12_0_arm64", "cp312-cp312-macosx_14_0_arm64"),
            "wheels exist for macosx_12_0_arm64, macosx_14_0_arm64: need macOS >= 12.0",
        ),
        (
            "macosx_11_0_arm64",
            ("cp312-cp312-macosx_14_0_x86_64",),
            "wheels exist for macosx_14_0_x86_64",  # another arch: no release helps
        ),
        (
            "macosx_10_9_x86_64",
            ("cp312-cp312-macosx_10_13_universal2",),
            "wheels exist for macosx_10_13_universal2: need macOS >= 10.13",
        ),
        (
            "manylinux2014_x86_64",
            ("cp312-cp312-manylinux_2_28_x86_64", "cp312-cp312-win_amd64"),
            "wheels exist for manylinux_2_28_x86_64, win_amd64: need glibc >= 2.28",
        ),
        (
            "win_amd64",
            ("cp313-cp313-win_amd64", "cp314-cp314-win_amd64"),
            "wheels exist for other Pythons only: cp313-cp313, cp314-cp314",
        ),
        ("win_amd64", (), "the release has no wheels"),
    ],
)
def test_explain_no_wheel_says_what_wheels_are_built_for(
    platform: str, wheels: tuple[str, ...], says: str
) -> None:
    assert make_target("3.12", platform).explain_no_wheel(_wheels(*wheels)) == says
