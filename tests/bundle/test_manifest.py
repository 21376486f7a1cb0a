"""bundle.json: deterministic rendering, exact round trip, validation."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.bundle.manifest import manifest_from_json, manifest_to_json
from bundler.errors import BundlerError, InputFileError, MultipleErrors
from bundler.models import BundleArtifact, DistKind, LockedFile, LockedPackage, Manifest

SHA_A = "a" * 64
SHA_B = "b" * 64
SHA_C = "c" * 64
PATH = "pypi/bundle.json"


def _artifact(filename: str, project: str, version: str, **kw: Any) -> BundleArtifact:
    kw.setdefault("sha256", SHA_A)
    kw.setdefault("size", 123)
    kw.setdefault("kind", DistKind.WHEEL if filename.endswith(".whl") else DistKind.SDIST)
    return BundleArtifact(filename=filename, project=NormalizedName(project), version=version, **kw)


def sample_manifest() -> Manifest:
    beta_file = LockedFile(
        filename="beta-2.0-py3-none-any.whl",
        sha256=SHA_B,
        kind=DistKind.WHEEL,
        url="https://example.invalid/files/beta-2.0-py3-none-any.whl",
        size=456,
        index="example",
        requires_python=">=3.9",
        yanked="",
        upload_time="2024-01-02T03:04:05.000000Z",
        targets=("cp311-linux",),
    )
    return Manifest(
        artifacts=(
            _artifact(
                "alpha-1.0-py3-none-any.whl",
                "alpha",
                "1.0",
                origin="example",
                targets=("cp311-linux", "cp312-win"),
                requires_python=">=3.9",
                metadata_sha256=SHA_C,
                needed_by=("-r requirements.in",),
            ),
            _artifact(
                "beta-2.0-py3-none-any.whl",
                "beta",
                "2.0",
                sha256=SHA_B,
                size=456,
                yanked="",
                upload_time="2024-01-02T03:04:05.000000Z",
            ),
            _artifact("gamma-1.0.tar.gz", "gamma", "1.0", build_only=True, yanked="broken"),
        ),
        packages=(
            LockedPackage(
                name=NormalizedName("alpha"),
                version=Version("1.0"),
                files=(
                    LockedFile(
                        filename="alpha-1.0-py3-none-any.whl", sha256=SHA_A, kind=DistKind.WHEEL
                    ),
                ),
                via=("-r requirements.in",),
            ),
            LockedPackage(
                name=NormalizedName("beta"),
                version=Version("2.0"),
                files=(beta_file,),
                marker='python_version >= "3.9"',
                via=("alpha",),
                targets=("cp311-linux",),
            ),
            LockedPackage(
                name=NormalizedName("gamma"),
                version=Version("1.0"),
                files=(),
                build_only=True,
                direct_url="https://example.invalid/gamma-1.0.tar.gz",
            ),
        ),
        targets=("cp311-linux", "cp312-win"),
        requirements=("alpha",),
        constraints=("beta<3",),
        allow_prereleases=True,
        created_by="bundler 0.1.0",
    )


def test_round_trip_is_exact() -> None:
    m = sample_manifest()
    data = manifest_to_json(m)
    back = manifest_from_json(data, PATH)
    assert back == m
    assert manifest_to_json(back) == data


def test_rendering_is_deterministic_and_sorted() -> None:
    m = sample_manifest()
    shuffled = Manifest(
        artifacts=tuple(reversed(m.artifacts)),
        packages=tuple(reversed(m.packages)),
        targets=m.targets,
        requirements=m.requirements,
        constraints=m.constraints,
        allow_prereleases=m.allow_prereleases,
        created_by=m.created_by,
    )
    data = manifest_to_json(shuffled)
    assert data == manifest_to_json(m)
    assert data.endswith(b"}\n")
    assert b'\n  "allow_prereleases": true,' in data  # two-space indent
    doc = json.loads(data)
    assert doc["format"] == 1
    assert list(doc) == sorted(doc)
    assert [a["filename"] for a in doc["artifacts"]] == [
        "alpha-1.0-py3-none-any.whl",
        "beta-2.0-py3-none-any.whl",
        "gamma-1.0.tar.gz",
    ]
    assert [p["name"] for p in doc["packages"]] == ["alpha", "beta", "gamma"]
    assert doc["packages"][1]["version"] == "2.0"
    # None and "" stay distinct: "yanked without a reason" is not "not yanked".
    assert doc["artifacts"][0]["yanked"] is None
    assert doc["artifacts"][1]["yanked"] == ""


def test_packages_sorted_by_version_within_a_name() -> None:
    m = sample_manifest()
    p10 = LockedPackage(name=NormalizedName("beta"), version=Version("10.0"), files=())
    p9 = LockedPackage(name=NormalizedName("beta"), version=Version("9.0"), files=())
    m2 = Manifest(artifacts=(), packages=(p10, p9), targets=m.targets)
    doc = json.loads(manifest_to_json(m2))
    assert [p["version"] for p in doc["packages"]] == ["9.0", "10.0"]


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(manifest_to_json(sample_manifest()))
    return doc


def _load(doc: object) -> object:
    return manifest_from_json(json.dumps(doc).encode(), PATH)


def test_all_problems_are_collected() -> None:
    doc = _doc()
    doc["artifacts"][0]["filename"] = "../evil.whl"
    doc["artifacts"][1]["filename"] = "a/b-1.0.tar.gz"
    doc["artifacts"][1]["sha256"] = "XYZ"
    del doc["artifacts"][2]["size"]
    doc["artifacts"][2]["metadata_sha256"] = "A" * 64  # uppercase: not canonical
    doc["packages"][0]["version"] = "not a version"
    doc["packages"][1]["files"][0]["kind"] = "egg"
    doc["packages"][1]["marker"] = "python_version >>> 3"
    doc["targets"] = "cp311-linux"
    with pytest.raises(MultipleErrors) as info:
        _load(doc)
    err = info.value
    messages = [str(e) for e in err.errors]
    assert all(isinstance(e, InputFileError) for e in err.errors)
    assert all(m.startswith(PATH + ": ") for m in messages)
    expected = [
        "artifacts[0].filename: unsafe file name '../evil.whl'",
        "artifacts[1].filename: unsafe file name 'a/b-1.0.tar.gz'",
        "artifacts[1].sha256: not a lowercase hex sha256 digest",
        "artifacts[2]: missing field 'size'",
        "artifacts[2].metadata_sha256: not a lowercase hex sha256 digest",
        "packages[0].version: invalid version 'not a version'",
        "packages[1].files[0].kind: unknown kind 'egg'",
        "packages[1].marker: invalid marker",
        "manifest.targets: expected a list of strings",
    ]
    for fragment in expected:
        assert any(fragment in m for m in messages), (fragment, messages)
    assert len(messages) == len(expected)
    assert err.exit_code == 2
    assert "9 problem(s)" in str(err)


def test_single_problem_raises_input_file_error() -> None:
    doc = _doc()
    doc["artifacts"][0]["size"] = -1
    with pytest.raises(InputFileError) as info:
        _load(doc)
    assert info.value.path == PATH
    assert "artifacts[0].size: expected a non-negative integer, got -1" in str(info.value)
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    "name", ["..", "x/../../etc.whl", "a\\b.whl", "C:evil.whl", "", "bad\nname.whl"]
)
def test_unsafe_filenames_rejected(name: str) -> None:
    doc = _doc()
    doc["artifacts"][0]["filename"] = name
    with pytest.raises(InputFileError, match="unsafe file name"):
        _load(doc)


def test_unsafe_project_name_rejected() -> None:
    doc = _doc()
    doc["artifacts"][0]["project"] = "../x"
    with pytest.raises(InputFileError, match=r"artifacts\[0\].project: not a normalized"):
        _load(doc)


@pytest.mark.parametrize("fmt", [2, 0, "1", None, True])
def test_unknown_format_version(fmt: object) -> None:
    doc = _doc()
    doc["format"] = fmt
    with pytest.raises(InputFileError, match="unsupported format version"):
        _load(doc)


def test_missing_fields() -> None:
    doc = _doc()
    del doc["format"]
    del doc["packages"]
    del doc["artifacts"][0]["sha256"]
    del doc["artifacts"][1]["kind"]
    with pytest.raises(MultipleErrors) as info:
        _load(doc)
    text = str(info.value)
    assert "manifest: missing field 'format'" in text
    assert "manifest: missing field 'packages'" in text
    assert "artifacts[0]: missing field 'sha256'" in text
    assert "artifacts[1]: missing field 'kind'" in text
    assert len(info.value.errors) == 4


def test_duplicate_artifact() -> None:
    doc = _doc()
    doc["artifacts"].append(dict(doc["artifacts"][0]))
    with pytest.raises(InputFileError, match=r"duplicate artifact 'alpha-1\.0-py3-none-any\.whl'"):
        _load(doc)


def test_optional_fields_default() -> None:
    doc = {
        "format": 1,
        "artifacts": [
            {
                "filename": "alpha-1.0-py3-none-any.whl",
                "project": "alpha",
                "version": "1.0",
                "sha256": SHA_A,
                "size": 1,
                "kind": "wheel",
            }
        ],
        "packages": [],
    }
    m = _load(doc)
    assert isinstance(m, Manifest)
    a = m.artifacts[0]
    assert (a.origin, a.targets, a.yanked, a.metadata_sha256, a.build_only) == (
        "",
        (),
        None,
        None,
        False,
    )
    assert m.targets == ()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not UTF-8"),
        (b"[]", "manifest: expected an object, got a list"),
    ],
)
def test_not_a_manifest(data: bytes, fragment: str) -> None:
    with pytest.raises(BundlerError, match=fragment) as info:
        manifest_from_json(data, PATH)
    assert str(info.value).startswith(PATH)
    assert info.value.exit_code == 2


def test_the_lock_files_are_listed() -> None:
    only_pylock = dataclasses.replace(sample_manifest(), lock_files=("pylock.toml",))
    data = manifest_to_json(only_pylock)
    assert json.loads(data)["lock_files"] == ["pylock.toml"]
    assert manifest_from_json(data, PATH).lock_files == ("pylock.toml",)
    both = json.loads(manifest_to_json(sample_manifest()))["lock_files"]
    assert both == ["pylock.toml", "requirements.txt"]


def test_a_manifest_listing_no_lock_files_stands_for_both() -> None:
    # bundle.json from before it listed its lock files: bundle download wrote both.
    doc = _doc()
    del doc["lock_files"]
    loaded = manifest_from_json(json.dumps(doc).encode(), PATH)
    assert loaded.lock_files == ("pylock.toml", "requirements.txt")


def test_an_unknown_lock_file_is_refused() -> None:
    doc = _doc()
    doc["lock_files"] = ["requirements.txt", "../etc/passwd"]
    with pytest.raises(InputFileError, match=r"unknown lock file '\.\./etc/passwd'"):
        _load(doc)
