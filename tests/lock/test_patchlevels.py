"""A target given as 3.Y stands for Python 3.Y.0: a dependency whose
marker answers otherwise at a later patch release is named (on
127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.cli.main import run
from bundler.lock.patchlevels import patch_sensitive
from bundler.spec.indexfiles import make_index_file
from bundler.spec.resolution import Resolution, ResolvedPackage
from bundler.spec.target import make_target
from tests.support import DistFactory, DistSpec
from tests.support.indexserver import IndexServer

PATCH_GATED = ('dep ; python_full_version >= "3.13.1"', 'old ; python_full_version < "3.13.1"')


def resolution(
    version: str,
    requires: tuple[str, ...],
    extras: frozenset[str] = frozenset(),
    requires_python: str | None = None,
) -> Resolution:
    wheel = make_index_file(
        filename="app-1.0-py3-none-any.whl",
        url="https://example.invalid/app-1.0-py3-none-any.whl",
        project=NormalizedName("app"),
        page_url="https://example.invalid/simple/app/",
        source="index",
        hashes={"sha256": "0" * 64},
        requires_python=requires_python,
        yanked=None,
        core_metadata=None,
    )
    assert wheel is not None
    package = ResolvedPackage(
        name=NormalizedName("app"),
        version=Version("1.0"),
        files=(wheel,),
        chosen=wheel,
        via=(),
        extras=frozenset(canonicalize_name(e) for e in extras),
        requires_dist=requires,
    )
    return Resolution(make_target(version, "win_amd64"), {package.name: package})


def test_a_marker_on_the_patch_level_is_named_for_a_dot_zero_target() -> None:
    requires = (
        *PATCH_GATED,
        "plain",
        'minor ; python_version >= "3.8"',
        'settled ; python_full_version >= "3.9"',
    )
    found = patch_sensitive(resolution("3.13", requires))
    assert found == [
        f"app 1.0 asks for '{PATCH_GATED[0]}': on cp313-win_amd64 (Python 3.13.0) it is"
        " left out, from 3.13.1 on it is needed; name the patch release the target runs"
        " (e.g. --python-version 3.13.1) to lock for it",
        f"app 1.0 asks for '{PATCH_GATED[1]}': on cp313-win_amd64 (Python 3.13.0) it is"
        " needed, from 3.13.1 on it is left out; name the patch release the target runs"
        " (e.g. --python-version 3.13.1) to lock for it",
    ]


def test_a_chosen_files_requires_python_that_refuses_later_patches_is_named() -> None:
    found = patch_sensitive(resolution("3.13", (), requires_python="<3.13.2,>=3.9"))
    assert found == [
        "app-1.0-py3-none-any.whl requires Python <3.13.2,>=3.9: cp313-win_amd64 (Python"
        " 3.13.0) installs it, but pip refuses it from 3.13.2 on; name the patch release"
        " the target runs (e.g. --python-version 3.13.2) to lock for it"
    ]
    assert patch_sensitive(resolution("3.13", (), requires_python=">=3.9")) == []
    assert patch_sensitive(resolution("3.13", (), requires_python="!=3.13.*")) == []


def test_a_named_patch_release_is_taken_as_it_is() -> None:
    assert patch_sensitive(resolution("3.13.4", PATCH_GATED)) == []


def test_only_the_extras_resolved_count() -> None:
    line = 'fast ; extra == "speed" and python_full_version < "3.13.2"'
    assert patch_sensitive(resolution("3.13", (line,))) == []
    [found] = patch_sensitive(resolution("3.13", (line,), frozenset({"speed"})))
    assert "from 3.13.2 on it is left out" in found


def test_lock_warns_of_a_patch_gated_dependency_of_a_dot_zero_target(
    tmp_path: Path, dist_factory: DistFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    files = dist_factory(
        [
            DistSpec("app", "1.0", requires=PATCH_GATED),
            DistSpec("dep", "1.0"),
            DistSpec("old", "1.0"),
        ]
    )
    (tmp_path / "requirements.in").write_text("app\n")
    out = tmp_path / "requirements.txt"
    with IndexServer(files) as server:
        argv = ["lock", str(tmp_path / "requirements.in"), "-o", str(out), "-i", server.url]
        assert run([*argv, "--python-version", "3.13", "--platform", "windows"]) == 0
        err = " ".join(capsys.readouterr().err.split())
        assert "old==1.0" in out.read_text() and "dep==" not in out.read_text()
        assert (
            "app 1.0 asks for 'dep ; python_full_version >= \"3.13.1\"': on cp313-win_amd64"
            " (Python 3.13.0) it is left out, from 3.13.1 on it is needed"
        ) in err
        assert run([*argv, "--python-version", "3.13.5", "--platform", "windows"]) == 0
        assert "asks for" not in capsys.readouterr().err
        assert "dep==1.0" in out.read_text() and "old==" not in out.read_text()
