"""``bundle add``: a company's own distributions placed into a bundle."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.version import Version

from bundler import api as app
from bundler.bundle.add import ADDED_BY, ORIGIN, add_files, added_requirements
from bundler.bundle.build import download
from bundler.bundle.manifest import manifest_from_json
from bundler.errors import BundleLocked, BundlerError, InvalidDistribution, MultipleErrors
from bundler.fsutil import directory_lock, sha256_file
from bundler.gate import closure as gate
from bundler.gate.integrity import check_integrity
from bundler.index.client import HttpClient
from bundler.lock.inputs import LockOptions, read_requirements
from bundler.models import IndexSettings, Manifest
from bundler.reporting import Reporter
from bundler.spec.target import host_target, make_target
from tests.gate.test_verify import APP, DEP, TOOL, Bundle, make_bundle
from tests.support import DistSpec, IndexServerFactory, build_sdist, build_wheel
from tests.support.distbuilder import write_wheel_archive
from tests.support.piputil import installed, make_venv, pip_run

ACME = DistSpec("acme-utils", "1.0", requires=("dep>=1",), requires_python=">=3.8")
ACME_WHEEL = "acme_utils-1.0-py3-none-any.whl"


class Recorder(Reporter):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.warnings: list[str] = []
        self.infos: list[str] = []

    def warning(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)

    def info(self, message: str) -> None:
        with self._lock:
            self.infos.append(message)


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return make_bundle(tmp_path / "pypi", [APP, DEP, TOOL], sdist_only=["Tool_Kit"])


@pytest.fixture
def dists(tmp_path: Path) -> Path:
    return tmp_path / "dist"


def read_manifest(root: Path) -> Manifest:
    return manifest_from_json((root / "bundle.json").read_bytes(), "bundle.json")


def snapshot(root: Path) -> dict[str, bytes]:
    """Every file of a bundle (lock file aside) and its bytes."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".bundle.lock"
    }


def hand_made_wheel(
    directory: Path, filename: str, dist_info: str, name: str, version: str
) -> Path:
    """A wheel whose METADATA says ``name`` ``version`` whatever its filename."""
    directory.mkdir(parents=True, exist_ok=True)
    metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files = [
        ("pkg/__init__.py", b""),
        (f"{dist_info}/METADATA", metadata.encode()),
        (f"{dist_info}/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"),
    ]
    path = directory / filename
    write_wheel_archive(str(path), files, f"{dist_info}/RECORD")
    return path


# --- adding -------------------------------------------------------------------------


def test_a_private_wheel_is_added_and_the_bundle_stays_whole(bundle: Bundle, dists: Path) -> None:
    wheel = build_wheel(ACME, "py3-none-any", dists)
    reporter = Recorder()
    manifest = add_files(bundle.root, [wheel], reporter)

    assert check_integrity(bundle.root, manifest).problems == ()
    assert manifest == read_manifest(bundle.root)
    copy = bundle.root / "files" / ACME_WHEEL
    assert copy.read_bytes() == wheel.read_bytes()
    assert (bundle.root / "files" / f"{ACME_WHEEL}.metadata").is_file()
    (artifact,) = [a for a in manifest.artifacts if a.filename == ACME_WHEEL]
    assert (artifact.project, artifact.version, artifact.origin) == ("acme-utils", "1.0", ORIGIN)
    assert artifact.needed_by == (ADDED_BY,)
    assert artifact.sha256 == sha256_file(wheel)[0]
    assert artifact.requires_python == ">=3.8"
    assert artifact.metadata_sha256 is not None
    (pin,) = [p for p in manifest.packages if p.name == "acme-utils"]
    assert pin.version == Version("1.0")
    assert [(f.filename, f.index) for f in pin.files] == [(ACME_WHEEL, ORIGIN)]
    # The page, the root page and requirements.txt all know it.
    page = (bundle.root / "simple" / "acme-utils" / "index.html").read_text()
    assert ACME_WHEEL in page
    assert "acme-utils" in (bundle.root / "simple" / "index.json").read_text()
    requirements = (bundle.root / "requirements.txt").read_text()
    assert f"acme-utils==1.0 \\\n    --hash=sha256:{artifact.sha256}" in requirements
    # What was there before is still there.
    assert {"app", "dep", "tool-kit"} <= {p.name for p in manifest.packages}
    assert f"added {ACME_WHEEL} (acme-utils 1.0)" in reporter.infos
    # No temporary copy is left behind.
    assert not [p for p in (bundle.root / "files").iterdir() if p.name.startswith(".")]


def test_adding_the_same_bytes_again_changes_nothing(bundle: Bundle, dists: Path) -> None:
    wheel = build_wheel(ACME, "py3-none-any", dists)
    add_files(bundle.root, [wheel])
    before = snapshot(bundle.root)
    again = dists / "again"
    again.mkdir()
    copy = again / ACME_WHEEL
    copy.write_bytes(wheel.read_bytes())
    add_files(bundle.root, [copy, wheel])
    assert snapshot(bundle.root) == before


def test_a_file_already_in_the_bundle_with_the_same_bytes_is_a_no_op(bundle: Bundle) -> None:
    before = snapshot(bundle.root)
    existing = bundle.file("dep-1.2-py3-none-any.whl")
    outside = bundle.root.parent / existing.name
    outside.write_bytes(existing.read_bytes())
    manifest = add_files(bundle.root, [outside])
    assert manifest.artifacts == bundle.manifest.artifacts
    assert {
        k: v
        for k, v in snapshot(bundle.root).items()
        if k not in ("requirements.txt", "pylock.toml")
    } == {k: v for k, v in before.items() if k not in ("requirements.txt", "pylock.toml")}


def test_different_content_under_an_existing_name_is_refused(bundle: Bundle, dists: Path) -> None:
    before = snapshot(bundle.root)
    # Another build of dep 1.2: same filename, other bytes.
    impostor = build_wheel(DistSpec("dep", "1.2", requires=("evil",)), "py3-none-any", dists)
    assert impostor.name == "dep-1.2-py3-none-any.whl"
    with pytest.raises(BundlerError) as caught:
        add_files(bundle.root, [impostor])
    text = str(caught.value)
    assert "already holds a different dep-1.2-py3-none-any.whl" in text
    assert sha256_file(impostor)[0] in text
    assert "new version" in text
    assert caught.value.exit_code == 2
    assert snapshot(bundle.root) == before


def test_a_wheel_whose_metadata_names_another_project_is_refused(
    bundle: Bundle, dists: Path
) -> None:
    before = snapshot(bundle.root)
    wheel = hand_made_wheel(dists, ACME_WHEEL, "acme_utils-1.0.dist-info", "evil-pkg", "1.0")
    with pytest.raises(InvalidDistribution) as caught:
        add_files(bundle.root, [wheel])
    assert caught.value.filename == ACME_WHEEL
    assert "evil-pkg" in str(caught.value)
    assert snapshot(bundle.root) == before


def test_a_wheel_whose_metadata_has_another_version_is_refused(bundle: Bundle, dists: Path) -> None:
    wheel = hand_made_wheel(dists, ACME_WHEEL, "acme_utils-1.0.dist-info", "acme-utils", "2.0")
    with pytest.raises(InvalidDistribution, match=r"metadata says acme-utils 2\.0"):
        add_files(bundle.root, [wheel])


@pytest.mark.parametrize(
    "filename",
    [
        "..\\acme_utils-1.0-py3-none-any.whl",
        "c:acme_utils-1.0-py3-none-any.whl",
        ".acme_utils-1.0-py3-none-any.whl",
        "acme_utils-1.0-py3-none-any.whl\n",
    ],
)
def test_an_unsafe_file_name_is_refused(bundle: Bundle, dists: Path, filename: str) -> None:
    wheel = build_wheel(ACME, "py3-none-any", dists)
    odd = wheel.rename(dists / filename)
    before = snapshot(bundle.root)
    with pytest.raises(BundlerError, match="unsafe file name"):
        add_files(bundle.root, [odd])
    assert snapshot(bundle.root) == before


@pytest.mark.parametrize(
    ("filename", "message"),
    [
        ("acme_utils-1.0.egg", "not a wheel (.whl) or sdist (.tar.gz"),
        ("acme_utils-1.0-py3-none-any.whl.metadata", "not a wheel"),
    ],
)
def test_file_names_must_follow_the_specs(
    bundle: Bundle, dists: Path, filename: str, message: str
) -> None:
    sdist = build_sdist(ACME, dists)
    assert sdist.name == "acme_utils-1.0.tar.gz"
    odd = sdist.rename(dists / filename)
    with pytest.raises(BundlerError, match=re.escape(message)):
        add_files(bundle.root, [odd])


@pytest.mark.parametrize("filename", ["Acme-Utils-1.0.tar.gz", "acme-utils-1.0.tar.gz"])
def test_a_legacy_sdist_name_is_taken_with_a_warning(
    bundle: Bundle, dists: Path, filename: str
) -> None:
    odd = build_sdist(ACME, dists).rename(dists / filename)
    reporter = Recorder()
    manifest = add_files(bundle.root, [odd], reporter)
    (warning,) = [w for w in reporter.warnings if filename in w]
    assert warning.startswith(f"{filename}: not a PEP 625 sdist name")
    assert "acme_utils-1.0.tar.gz" in warning
    (artifact,) = [a for a in manifest.artifacts if a.project == "acme-utils"]
    assert (artifact.filename, artifact.version) == (filename, "1.0")
    assert (bundle.root / "files" / filename).is_file()
    assert check_integrity(bundle.root, manifest).problems == ()


def test_a_legacy_sdist_name_splits_where_pip_splits_it(bundle: Bundle, dists: Path) -> None:
    # pip knows the project: the first dash after its name starts the
    # version, so "acme-utils-1.0-1" is acme-utils 1.0-1 (a post release),
    # where the last dash would make it a project "acme-utils-1.0", version 1.
    spec = DistSpec("acme-utils", "1.0.post1")
    odd = build_sdist(spec, dists).rename(dists / "acme-utils-1.0-1.tar.gz")
    manifest = add_files(bundle.root, [odd], Recorder())
    (artifact,) = [a for a in manifest.artifacts if a.filename == odd.name]
    assert (artifact.project, artifact.version) == ("acme-utils", "1.0.post1")


def test_an_sdist_with_static_metadata_is_added(bundle: Bundle, dists: Path) -> None:
    sdist = build_sdist(ACME, dists)
    manifest = add_files(bundle.root, [sdist])
    assert check_integrity(bundle.root, manifest).problems == ()
    (artifact,) = [a for a in manifest.artifacts if a.project == "acme-utils"]
    assert artifact.kind.value == "sdist"
    assert artifact.metadata_sha256 is None


def test_a_wheel_and_an_sdist_of_one_release_share_one_pin(bundle: Bundle, dists: Path) -> None:
    wheel, sdist = build_wheel(ACME, "py3-none-any", dists), build_sdist(ACME, dists)
    manifest = add_files(bundle.root, [sdist, wheel])
    assert check_integrity(bundle.root, manifest).problems == ()
    (pin,) = [p for p in manifest.packages if p.name == "acme-utils"]
    assert [f.filename for f in pin.files] == [ACME_WHEEL, "acme_utils-1.0.tar.gz"]
    requirements = (bundle.root / "requirements.txt").read_text()
    for path in (wheel, sdist):
        assert f"--hash=sha256:{sha256_file(path)[0]}" in requirements
    assert requirements.count("acme-utils==1.0") == 1


def test_an_sdist_with_dynamic_dependencies_is_refused(bundle: Bundle, dists: Path) -> None:
    spec = DistSpec("acme-utils", "1.0", requires=("dep",), dynamic_metadata=True)
    with pytest.raises(InvalidDistribution, match="dynamic"):
        add_files(bundle.root, [build_sdist(spec, dists)])


def test_every_problem_is_reported_and_nothing_is_added(bundle: Bundle, dists: Path) -> None:
    good = build_wheel(ACME, "py3-none-any", dists)
    bad = hand_made_wheel(
        dists / "bad", "other-1.0-py3-none-any.whl", "other-1.0.dist-info", "nope", "1.0"
    )
    missing = dists / "ghost-1.0-py3-none-any.whl"
    before = snapshot(bundle.root)
    with pytest.raises(MultipleErrors) as caught:
        add_files(bundle.root, [good, bad, missing])
    assert len(caught.value.errors) == 2
    assert "no such file" in str(caught.value)
    assert "nope" in str(caught.value)
    assert snapshot(bundle.root) == before


def test_another_version_of_a_pinned_project_is_refused(bundle: Bundle, dists: Path) -> None:
    newer = build_wheel(DistSpec("dep", "1.3"), "py3-none-any", dists)
    with pytest.raises(BundlerError, match=r"the bundle pins dep==1\.2, not 1\.3"):
        add_files(bundle.root, [newer])


def test_a_bundle_in_use_is_not_changed(bundle: Bundle, dists: Path) -> None:
    wheel = build_wheel(ACME, "py3-none-any", dists)
    with directory_lock(bundle.root), pytest.raises(BundleLocked):
        add_files(bundle.root, [wheel])
    assert not (bundle.root / "files" / ACME_WHEEL).exists()


def test_not_a_bundle(tmp_path: Path, dists: Path) -> None:
    with pytest.raises(BundlerError, match=r"is not a bundle: bundle\.json is missing"):
        add_files(tmp_path, [build_wheel(ACME, "py3-none-any", dists)])
    with pytest.raises(BundlerError, match="no file to add"):
        add_files(tmp_path, [])


# --- a bundle built for real targets ---------------------------------------------------


@pytest.fixture
def client(tmp_path: Path) -> Iterator[HttpClient]:
    with HttpClient(cache_dir=tmp_path / "cache") as c:
        yield c


@pytest.fixture
def built(index_server: IndexServerFactory, client: HttpClient, tmp_path: Path) -> Path:
    """A bundle as ``bundle build`` makes it, for this interpreter."""
    server = index_server([APP, DEP])
    requirements = tmp_path / "requirements.in"
    requirements.write_text("app\n")
    reqs = read_requirements([requirements])
    indexes = IndexSettings(index_url=server.url)
    lock = app.lock(reqs, [host_target()], indexes, LockOptions(), client)
    root = tmp_path / "built"
    download(lock, root, indexes, client)
    return root


def test_added_to_a_built_bundle_it_resolves_and_installs(
    built: Path, dists: Path, client: HttpClient, tmp_path: Path
) -> None:
    wheel = build_wheel(ACME, "py3-none-any", dists)
    reporter = Recorder()
    manifest = add_files(built, [wheel], reporter)
    assert reporter.warnings == []
    assert manifest.requirements == ("app", "acme-utils==1.0")
    (pin,) = [p for p in manifest.packages if p.name == "acme-utils"]
    assert pin.targets == (host_target().name,)
    assert pin.marker is None
    assert check_integrity(built, manifest).problems == ()
    closure = gate.check_closure(built, manifest, host_target(), client)
    assert closure.problems == ()
    assert closure.status == "passed"
    # The bundle alone installs it, hashes required, with its dependency.
    python = make_venv(tmp_path / "venv")
    files, requirements = built / "files", built / "requirements.txt"
    pip_run(
        ["install", "--no-index", "--find-links", str(files), "-r", str(requirements)],
        python=python,
    )
    got = installed(python)
    assert got["acme-utils"] == "1.0" and got["dep"] == "1.2" and got["app"] == "1.0"


def test_a_wheel_that_suits_no_target_is_refused(built: Path, dists: Path) -> None:
    before = snapshot(built)
    windows = build_wheel(ACME, "cp312-cp312-win_amd64", dists)
    if any(t.platform == "win_amd64" for t in host_target().tags):
        pytest.skip("this host installs win_amd64 wheels")
    with pytest.raises(BundlerError, match="suits none of the bundle's targets"):
        add_files(built, [windows])
    assert snapshot(built) == before


def test_manifest_json_records_the_local_origin(built: Path, dists: Path) -> None:
    add_files(built, [build_wheel(ACME, "py3-none-any", dists)])
    doc = json.loads((built / "bundle.json").read_text())
    (entry,) = [a for a in doc["artifacts"] if a["filename"] == ACME_WHEEL]
    assert entry["origin"] == "local"
    assert entry["needed_by"] == ["bundle add"]


# --- the dependencies of what was added ------------------------------------------------


def test_added_requirements_are_the_added_files_requires_dist(dists: Path) -> None:
    host = host_target()
    spec = DistSpec(
        "acme-app",
        "2.0",
        requires=(
            "requests>=2",
            'pywin32>=300; sys_platform == "win32"',
            f'tomli; python_version == "{host.python_short}"',
            "acme-utils>=1",  # added alongside: satisfied
            "acme-core>=3",  # added alongside, but too old: kept
        ),
        extras={"speed": ("fastlib",)},
    )
    app_wheel = build_wheel(spec, "py3-none-any", dists)
    utils = build_wheel(DistSpec("acme-utils", "1.5"), "py3-none-any", dists)
    core = build_wheel(DistSpec("acme-core", "2.0", requires=("six",)), "py3-none-any", dists)
    manifest = Manifest(artifacts=(), packages=(), targets=(host.name,))
    got = added_requirements(manifest, [app_wheel, utils, core])
    linux_host = host.environment.get("sys_platform") != "win32"
    expected = {
        "acme-core>=3",
        "requests>=2",
        "six",
        f'tomli; python_version == "{host.python_short}"',
    }
    if not linux_host:
        expected.add('pywin32>=300; sys_platform == "win32"')
    assert set(got) == expected
    assert got == sorted(got)

    windows = Manifest(artifacts=(), packages=(), targets=(host.name, "cp312-win_amd64"))
    assert 'pywin32>=300; sys_platform == "win32"' in added_requirements(windows, [app_wheel])
    # A target bundler cannot rebuild keeps every marker but the extras'.
    unknown = Manifest(artifacts=(), packages=(), targets=("host",))
    kept = added_requirements(unknown, [app_wheel])
    assert 'pywin32>=300; sys_platform == "win32"' in kept
    assert not [r for r in kept if "fastlib" in r]
    assert "acme-utils>=1" in kept  # not added this time: a dependency like any other


def test_a_wheel_for_some_targets_is_asked_for_on_those_only(
    index_server: IndexServerFactory, client: HttpClient, dists: Path, tmp_path: Path
) -> None:
    # A Windows-only wheel added to a Linux and Windows bundle: its pin
    # says sys_platform == "win32", and so must the requirement recorded,
    # or the closure asks for it on Linux, where nothing provides it.
    server = index_server([APP, DEP])
    requirements = tmp_path / "requirements.in"
    requirements.write_text("app\n")
    linux, windows = make_target("3.12", "linux"), make_target("3.12", "windows")
    indexes = IndexSettings(index_url=server.url)
    lock = app.lock(
        read_requirements([requirements]), [linux, windows], indexes, LockOptions(), client
    )
    root = tmp_path / "two"
    download(lock, root, indexes, client)
    manifest = add_files(root, [build_wheel(ACME, "py3-none-win_amd64", dists)])
    (pin,) = [p for p in manifest.packages if p.name == "acme-utils"]
    assert pin.marker == 'sys_platform == "win32"'
    assert manifest.requirements == ("app", 'acme-utils==1.0 ; sys_platform == "win32"')
    for target in (linux, windows):
        closure = gate.check_closure(root, manifest, target, client)
        assert closure.status == "passed", closure.problems
