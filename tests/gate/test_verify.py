"""The verification gate: integrity over hand-built bundles, and a real pip
install from a bundle into fresh virtual environments."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.bundle.lockfiles import manifest_lock_files
from bundler.bundle.pagewriter import write_index
from bundler.errors import BundlerError
from bundler.fsutil import remove_tree, sha256_bytes, sha256_file
from bundler.gate import live
from bundler.gate import verify as gate
from bundler.gate.install import check_reality, safe_dirname
from bundler.gate.integrity import check_integrity
from bundler.gate.report import CheckResult, Problem, VerifyReport, report_to_json
from bundler.gate.verify import VerifyOptions
from bundler.gate.wheels import wheel_archive_problems
from bundler.index.client import HttpClient
from bundler.models import BundleArtifact, DistKind, LockedFile, LockedPackage, Manifest
from bundler.runtime.interpreters import Interpreter, probe_interpreter
from bundler.runtime.isolation import detect_network_isolation
from bundler.runtime.piprun import (
    NEWEST_PIP,
    PYLOCK_SINCE,
    PipChoice,
    PipRunner,
    create_venv,
)
from bundler.spec.target import host_target
from tests.support.distbuilder import DistSpec, build_sdist, build_wheel
from tests.support.piputil import clean_pip_env, installed

TARGET = host_target().name


@dataclass(frozen=True)
class Bundle:
    root: Path
    manifest: Manifest

    def file(self, filename: str) -> Path:
        return self.root / "files" / filename

    def integrity(self) -> CheckResult:
        return check_integrity(self.root, self.manifest)


def make_bundle(
    root: Path,
    specs: Sequence[DistSpec],
    *,
    sdist_only: Sequence[str] = (),
) -> Bundle:
    """A bundle as ``bundle download`` leaves it: files, sidecars, pages,
    ``bundle.json``, a hashed ``requirements.txt`` and ``pylock.toml``.  Projects in
    ``sdist_only`` ship an sdist and no wheel."""
    files_dir = root / "files"
    artifacts: list[BundleArtifact] = []
    packages: list[LockedPackage] = []
    for spec in specs:
        project = canonicalize_name(spec.name)
        if spec.name in sdist_only:
            paths = [build_sdist(spec, files_dir)]
        else:
            paths = [build_wheel(spec, "py3-none-any", files_dir)]
        locked: list[LockedFile] = []
        for path in paths:
            digest, size = sha256_file(path)
            kind = DistKind.WHEEL if path.name.endswith(".whl") else DistKind.SDIST
            artifacts.append(
                BundleArtifact(
                    filename=path.name,
                    project=project,
                    version=spec.version,
                    sha256=digest,
                    size=size,
                    kind=kind,
                    targets=(TARGET,),
                    requires_python=spec.requires_python,
                )
            )
            locked.append(LockedFile(path.name, digest, kind, size=size, targets=(TARGET,)))
        packages.append(
            LockedPackage(project, Version(spec.version), tuple(locked), targets=(TARGET,))
        )
    manifest = Manifest(tuple(artifacts), tuple(packages), (TARGET,))
    return Bundle(root, write_index(root, manifest, manifest_lock_files(manifest)))


APP = DistSpec("app", "1.0", requires=("dep>=1",))
DEP = DistSpec("dep", "1.2", requires_python=">=3.8")
TOOL = DistSpec("Tool_Kit", "0.5")
APP_WHEEL = "app-1.0-py3-none-any.whl"
DEP_WHEEL = "dep-1.2-py3-none-any.whl"


@pytest.fixture
def bundle(tmp_path: Path) -> Bundle:
    return make_bundle(tmp_path / "pypi", [APP, DEP, TOOL], sdist_only=["Tool_Kit"])


def messages(result: CheckResult) -> list[str]:
    return [f"{p.subject}: {p.message}" for p in result.problems]


def assert_problem(result: CheckResult, subject: str, *fragments: str) -> None:
    assert result.status == "failed"
    for p in result.problems:
        if p.subject == subject and all(f in p.message for f in fragments):
            assert p.check == "integrity"
            return
    raise AssertionError(f"no problem on {subject} with {fragments}: {messages(result)}")


# --- integrity ------------------------------------------------------------------


def test_a_good_bundle_passes(bundle: Bundle) -> None:
    result = bundle.integrity()
    assert result.problems == (), messages(result)
    assert result.status == "passed"
    assert result.check == "integrity"
    assert result.target is None
    assert result.details.startswith("3 files")
    assert VerifyReport((result,)).ok


def test_a_deleted_file_is_named_missing(bundle: Bundle) -> None:
    bundle.file(DEP_WHEEL).unlink()
    result = bundle.integrity()
    assert_problem(result, f"files/{DEP_WHEEL}", "missing")


def test_one_changed_byte_is_a_sha256_difference(bundle: Bundle) -> None:
    path = bundle.file("tool_kit-0.5.tar.gz")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    artifact = next(a for a in bundle.manifest.artifacts if a.filename == path.name)
    got, _ = sha256_file(path)
    result = bundle.integrity()
    assert_problem(
        result, f"files/{path.name}", f"sha256 differs: expected {artifact.sha256} got {got}"
    )


def test_a_truncated_file_is_a_size_difference(bundle: Bundle) -> None:
    path = bundle.file(APP_WHEEL)
    size = path.stat().st_size
    path.write_bytes(path.read_bytes()[:-10])
    result = bundle.integrity()
    assert_problem(
        result, f"files/{APP_WHEEL}", f"size differs: expected {size} bytes, got {size - 10}"
    )


def test_a_page_listing_a_file_that_is_not_there(bundle: Bundle) -> None:
    page = bundle.root / "simple" / "dep" / "index.html"
    ghost = "dep-9.9-py3-none-any.whl"
    link = f'<a href="../../files/{ghost}#sha256={"0" * 64}">{ghost}</a><br>\n  </body>'
    page.write_text(page.read_text().replace("</body>", link, 1))
    result = bundle.integrity()
    assert_problem(result, "simple/dep/index.html", ghost, "not in the bundle")
    # The JSON page is untouched and agrees.
    assert not [p for p in result.problems if p.subject == "simple/dep/index.json"]


def test_a_page_with_another_hash_or_missing_a_file(bundle: Bundle) -> None:
    page = bundle.root / "simple" / "app" / "index.json"
    doc = json.loads(page.read_text())
    doc["files"][0]["hashes"]["sha256"] = "ab" * 32
    page.write_text(json.dumps(doc))
    html_page = bundle.root / "simple" / "dep" / "index.html"
    html_page.write_text(
        "\n".join(line for line in html_page.read_text().splitlines() if DEP_WHEEL not in line)
    )
    result = bundle.integrity()
    assert_problem(result, "simple/app/index.json", APP_WHEEL, f"sha256 {'ab' * 32}")
    assert_problem(result, "simple/dep/index.html", f"does not list files/{DEP_WHEEL}")


def test_root_pages_must_list_exactly_the_projects(bundle: Bundle) -> None:
    root_json = bundle.root / "simple" / "index.json"
    doc = json.loads(root_json.read_text())
    doc["projects"] = [p for p in doc["projects"] if p["name"] != "dep"] + [{"name": "ghost"}]
    root_json.write_text(json.dumps(doc))
    result = bundle.integrity()
    assert_problem(result, "simple/index.json", "does not list project dep")
    assert_problem(result, "simple/index.json", "ghost")
    assert not [p for p in result.problems if p.subject == "simple/index.html"]


def test_unexpected_files_anywhere_are_named(bundle: Bundle) -> None:
    (bundle.root / "notes.txt").write_text("hello")
    bundle.file("extra-1.0-py3-none-any.whl").write_bytes(b"not in the manifest")
    (bundle.root / "simple" / "ghost").mkdir()
    (bundle.root / "simple" / "dep" / "old.html").write_text("<html></html>")
    result = bundle.integrity()
    assert_problem(result, "notes.txt", "unexpected")
    assert_problem(result, "files/extra-1.0-py3-none-any.whl", "unexpected")
    assert_problem(result, "simple/ghost", "unexpected")
    assert_problem(result, "simple/dep/old.html", "unexpected")


def test_a_symlink_is_not_a_bundle_file(bundle: Bundle, tmp_path: Path) -> None:
    outside = tmp_path / "outside.whl"
    shutil.copyfile(bundle.file(APP_WHEEL), outside)
    bundle.file(APP_WHEEL).unlink()
    bundle.file(APP_WHEEL).symlink_to(outside)
    assert_problem(bundle.integrity(), f"files/{APP_WHEEL}", "symbolic link")


def test_allowed_top_level_files_are_not_unexpected(bundle: Bundle) -> None:
    (bundle.root / ".bundle.lock").write_text("")
    assert bundle.integrity().status == "passed"


def test_a_pylock_naming_another_file_is_named(bundle: Bundle) -> None:
    (bundle.root / "pylock.toml").write_text(
        'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "evil"\nversion = "1"\n'
        'wheels = [{ path = "files/evil-1-py3-none-any.whl", hashes = { sha256 = "'
        + "0" * 64
        + '" } }]\n'
    )
    result = bundle.integrity()
    assert_problem(result, "pylock.toml", "evil==1, which bundle.json does not lock")
    assert_problem(result, "pylock.toml", "does not lock app==1.0, which bundle.json locks")


def test_a_bad_sidecar_is_named(bundle: Bundle) -> None:
    sidecar = bundle.file(APP_WHEEL + ".metadata")
    sidecar.write_bytes(sidecar.read_bytes() + b"Requires-Dist: evil\n")
    result = bundle.integrity()
    assert_problem(result, f"files/{APP_WHEEL}.metadata", "sha256 differs")
    assert_problem(result, f"files/{APP_WHEEL}.metadata", "differs from the wheel's")


def test_a_missing_sidecar_is_named(bundle: Bundle) -> None:
    bundle.file(DEP_WHEEL + ".metadata").unlink()
    assert_problem(bundle.integrity(), f"files/{DEP_WHEEL}.metadata", "missing")


def test_a_sidecar_that_matches_the_manifest_but_not_the_wheel(bundle: Bundle) -> None:
    sidecar = bundle.file(DEP_WHEEL + ".metadata")
    forged = b"Metadata-Version: 2.1\nName: dep\nVersion: 1.2\n\n"
    sidecar.write_bytes(forged)
    manifest = bundle.manifest
    artifacts = tuple(
        replace(a, metadata_sha256=sha256_bytes(forged)) if a.filename == DEP_WHEEL else a
        for a in manifest.artifacts
    )
    result = check_integrity(bundle.root, Manifest(artifacts, manifest.packages, manifest.targets))
    assert_problem(result, f"files/{DEP_WHEEL}.metadata", "differs from the wheel's")
    # The pages still advertise the real hash, which no longer matches.
    assert_problem(result, "simple/dep/index.html", "advertises metadata sha256")


def test_requirements_must_pin_bundle_files(bundle: Bundle) -> None:
    path = bundle.root / "requirements.txt"
    text = path.read_text()
    dep = next(a for a in bundle.manifest.artifacts if a.filename == DEP_WHEEL)
    path.write_text(text.replace(dep.sha256, "cd" * 32))
    result = bundle.integrity()
    assert_problem(result, "requirements.txt", "dep==1.2", f"lacks the hash of files/{DEP_WHEEL}")
    assert_problem(result, "requirements.txt", "dep==1.2", f"sha256:{'cd' * 32}, of no file")


def test_an_unparsable_requirements_file_is_a_problem(bundle: Bundle) -> None:
    (bundle.root / "requirements.txt").write_text("app>=1.0\n")
    result = bundle.integrity()
    assert any(p.subject == "requirements.txt" for p in result.problems), messages(result)
    assert result.status == "failed"


def test_every_problem_is_reported_at_once(bundle: Bundle) -> None:
    bundle.file(DEP_WHEEL).unlink()
    bundle.file(APP_WHEEL).write_bytes(b"garbage")
    (bundle.root / "stray").write_text("x")
    (bundle.root / "requirements.txt").unlink()
    subjects = {p.subject for p in bundle.integrity().problems}
    assert {f"files/{DEP_WHEEL}", f"files/{APP_WHEEL}", "stray", "requirements.txt"} <= subjects


def test_a_lock_file_bundle_json_lists_must_be_there(bundle: Bundle) -> None:
    (bundle.root / "pylock.toml").unlink()
    assert_problem(bundle.integrity(), "pylock.toml", "missing", "bundle download")


def test_a_lock_file_bundle_json_does_not_list_is_unexpected(bundle: Bundle) -> None:
    only_requirements = replace(bundle.manifest, lock_files=("requirements.txt",))
    result = check_integrity(bundle.root, only_requirements)
    assert_problem(result, "pylock.toml", "unexpected", "does not list it")
    (bundle.root / "pylock.toml").unlink()
    assert check_integrity(bundle.root, only_requirements).problems == ()


def test_requirements_must_name_no_package_source(bundle: Bundle) -> None:
    path = bundle.root / "requirements.txt"
    text = path.read_text()
    for option in ("--no-index", "--find-links files", "--extra-index-url https://x.invalid/"):
        path.write_text(f"{option}\n{text}")
        assert_problem(bundle.integrity(), "requirements.txt", "names a package source")


# --- wheels, read whole -------------------------------------------------------------


def _wheel(path: Path, members: Sequence[tuple[str, bytes]], record: str | None) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            archive.writestr(name, data)
        if record is not None:
            archive.writestr("w-1.0.dist-info/RECORD", record)
    return path


def _row(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}\n"


MEMBERS = [
    ("w/__init__.py", b"x = 1\n"),
    ("w-1.0.dist-info/METADATA", b"Name: w\n"),
    ("w-1.0.dist-info/WHEEL", b"Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"),
]
GOOD_RECORD = "".join(_row(n, d) for n, d in MEMBERS) + "w-1.0.dist-info/RECORD,,\n"


def test_a_sound_wheel_has_no_archive_problem(tmp_path: Path) -> None:
    # Directory entries and RECORD's signatures need no RECORD row.
    members = [*MEMBERS, ("w/", b""), ("w-1.0.dist-info/RECORD.jws", b"sig")]
    assert wheel_archive_problems(_wheel(tmp_path / "w.whl", members, GOOD_RECORD)) == []
    built = build_wheel(APP, "py3-none-any", tmp_path)
    assert wheel_archive_problems(built) == []


@pytest.mark.parametrize(
    ("name", "fragment"),
    [
        ("../escape.py", "outside the install directory"),
        ("/etc/evil", "outside the install directory"),
        ("w\\..\\..\\evil.py", "outside the install directory"),
        ("C:/evil.py", "outside the install directory"),
        ("w/__init__.py", "twice"),
    ],
)
def test_unsafe_or_duplicate_members(tmp_path: Path, name: str, fragment: str) -> None:
    path = tmp_path / "w.whl"
    with pytest.warns(UserWarning) if name == "w/__init__.py" else contextlib.nullcontext():
        _wheel(path, [*MEMBERS, (name, b"x = 1\n")], GOOD_RECORD)
    problems = wheel_archive_problems(path)
    assert any(repr(name) in p and fragment in p for p in problems), problems


def test_record_must_list_every_member_with_its_hash_and_size(tmp_path: Path) -> None:
    unlisted = _wheel(tmp_path / "a.whl", [*MEMBERS, ("w/extra.py", b"")], GOOD_RECORD)
    assert wheel_archive_problems(unlisted) == ["member 'w/extra.py' is not listed in RECORD"]
    changed = _wheel(tmp_path / "b.whl", [("w/__init__.py", b"x = 2\n"), *MEMBERS[1:]], GOOD_RECORD)
    (problem,) = wheel_archive_problems(changed)
    assert "'w/__init__.py' does not match RECORD" in problem
    sized = GOOD_RECORD.replace(",6\n", ",7\n")
    assert wheel_archive_problems(_wheel(tmp_path / "c.whl", MEMBERS, sized)) == [
        "member 'w/__init__.py' has 6 bytes, RECORD says 7"
    ]
    unhashed = GOOD_RECORD.replace(_row(*MEMBERS[0]), "w/__init__.py,,\n")
    (problem,) = wheel_archive_problems(_wheel(tmp_path / "d.whl", MEMBERS, unhashed))
    assert "RECORD gives no usable hash for 'w/__init__.py'" in problem
    md5 = GOOD_RECORD.replace(_row(*MEMBERS[0]), "w/__init__.py,md5=abc,6\n")
    (problem,) = wheel_archive_problems(_wheel(tmp_path / "e.whl", MEMBERS, md5))
    assert "no usable hash" in problem
    (problem,) = wheel_archive_problems(_wheel(tmp_path / "f.whl", MEMBERS, None))
    assert "0 .dist-info/RECORD files" in problem


def test_a_member_failing_its_crc_is_corrupt(tmp_path: Path) -> None:
    path = _wheel(tmp_path / "w.whl", [("w/data.bin", bytes(range(256)) * 64)], None)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("w/data.bin")
    data[info.header_offset + 30 + len("w/data.bin") + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    problems = wheel_archive_problems(path)
    assert any("member 'w/data.bin' is corrupt" in p for p in problems), problems
    path.write_bytes(b"not a zip")
    assert wheel_archive_problems(path) == ["is not a readable zip archive: File is not a zip file"]


def test_integrity_reads_every_wheel_whole(bundle: Bundle) -> None:
    path = bundle.file(DEP_WHEEL)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr("dep/extra.py", b"import evil\n")
    digest, size = sha256_file(path)
    manifest = replace(
        bundle.manifest,
        artifacts=tuple(
            replace(a, sha256=digest, size=size) if a.filename == DEP_WHEEL else a
            for a in bundle.manifest.artifacts
        ),
    )
    result = check_integrity(bundle.root, manifest)
    assert_problem(result, f"files/{DEP_WHEEL}", "'dep/extra.py' is not listed in RECORD")


# --- bundle.json --------------------------------------------------------------------


def test_a_bundle_that_cannot_be_read_fails_the_gate(bundle: Bundle) -> None:
    path = bundle.root / "bundle.json"
    path.write_text("{not json")
    with pytest.raises(BundlerError) as invalid:
        gate.load_bundle(bundle.root)
    assert invalid.value.exit_code == 1
    assert "not a valid bundle" in str(invalid.value) and "bundle.json" in str(invalid.value)
    assert "bundle download" in str(invalid.value)
    path.write_text('{"format": 1, "targets": 3}')
    with pytest.raises(BundlerError) as several:
        gate.load_bundle(bundle.root)
    assert several.value.exit_code == 1
    assert "missing field 'artifacts'" in str(several.value)
    path.unlink()
    with pytest.raises(BundlerError) as missing:
        gate.load_bundle(bundle.root)
    assert missing.value.exit_code == 1
    assert "bundle.json is missing" in str(missing.value)
    with pytest.raises(BundlerError) as no_dir:
        gate.load_bundle(bundle.root / "nowhere")
    assert no_dir.value.exit_code == 2


# --- report -----------------------------------------------------------------------


def test_report_json_is_deterministic_and_extensible() -> None:
    failed = CheckResult(
        "integrity", None, "failed", (Problem("integrity", "files/a.whl", "missing"),)
    )
    skipped = CheckResult("reality", "cp313-win", "skipped", details="no interpreter")
    report = VerifyReport((failed,))
    assert not report.ok
    longer = report.extended(skipped)
    assert longer.results == (failed, skipped)
    assert report_to_json(longer) == report_to_json(VerifyReport((failed, skipped)))
    doc = json.loads(report_to_json(longer))
    assert doc["ok"] is False
    assert doc["results"][0]["problems"] == [
        {"check": "integrity", "subject": "files/a.whl", "message": "missing", "target": None}
    ]
    assert doc["results"][1]["details"] == "no interpreter"
    assert VerifyReport((skipped,)).ok


# --- reality ----------------------------------------------------------------------


def running_interpreter() -> Interpreter:
    interp = probe_interpreter(sys.executable)
    assert interp is not None
    return interp


def expected_of(bundle: Bundle) -> dict[NormalizedName, str]:
    return {p.name: str(p.version) for p in bundle.manifest.packages}


@pytest.mark.slow
def test_a_good_bundle_installs_for_real(bundle: Bundle, tmp_path: Path) -> None:
    runner = PipRunner()
    work = tmp_path / "work"
    work.mkdir()
    result = check_reality(
        bundle.root, TARGET, running_interpreter(), expected_of(bundle), runner, work
    )
    assert result.status == "passed", messages(result)
    assert result.check == "reality"
    assert result.target == TARGET
    isolation = detect_network_isolation()
    if isolation.available:
        assert "network: isolated (network namespace)" in result.details
    else:
        assert "network: NOT isolated" in result.details
    # Really installed, the sdist built from the bundle alone.
    venv_python = work / f"venv-{safe_dirname(TARGET)}" / "bin" / "python"
    assert installed(venv_python) == {"app": "1.0", "dep": "1.2", "tool-kit": "0.5"}


@pytest.mark.slow
def test_installed_versions_are_compared_with_the_lock(bundle: Bundle, tmp_path: Path) -> None:
    expected = {**expected_of(bundle), NormalizedName("ghost"): "1.0"}
    expected[NormalizedName("dep")] = "1.1"
    del expected[NormalizedName("tool-kit")]
    result = check_reality(
        bundle.root, TARGET, running_interpreter(), expected, PipRunner(), tmp_path
    )
    assert result.status == "failed"
    by_subject = {p.subject: p.message for p in result.problems}
    assert "was not installed" in by_subject["ghost"]
    assert "pip installed dep 1.2, the lock pins 1.1" in by_subject["dep"]
    assert "does not pin" in by_subject["tool-kit"]
    assert all(p.target == TARGET and p.check == "reality" for p in result.problems)


@pytest.mark.slow
def test_a_bundle_missing_a_dependency_fails_with_pips_message(tmp_path: Path) -> None:
    # app needs dep, which the bundle lacks altogether.
    bundle = make_bundle(tmp_path / "pypi", [APP])
    assert bundle.integrity().status == "passed"
    result = check_reality(
        bundle.root,
        TARGET,
        running_interpreter(),
        expected_of(bundle),
        PipRunner(),
        tmp_path,
    )
    assert result.status == "failed"
    [problem] = result.problems
    assert problem.subject == "dep"
    assert problem.target == TARGET
    assert "No matching distribution found for dep" in problem.message
    assert "--require-hashes" in problem.message  # the command is kept
    assert "--no-index" in problem.message


@pytest.mark.slow
def test_machine_pip_config_does_not_make_the_gate_pass(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bundle = make_bundle(tmp_path / "pypi", [APP, DEP])
    # The dependency's wheel lives outside the bundle, where pip config points.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.move(str(bundle.file(DEP_WHEEL)), elsewhere / DEP_WHEEL)
    config = tmp_path / "pip.conf"
    config.write_text(f"[global]\nfind-links = {elsewhere}\n")
    requirements = bundle.root / "requirements.txt"

    # Control: pip that honours the machine's settings would install it.
    control_python = create_venv(tmp_path / "control", running_interpreter())
    files = str(bundle.root / "files")
    install = ["install", "--no-index", "--find-links", files, "-r", str(requirements)]
    control = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(control_python), *install],
        env=clean_pip_env({"PIP_FIND_LINKS": str(elsewhere)}),
        capture_output=True,
        text=True,
        check=False,
    )
    assert control.returncode == 0, control.stderr

    monkeypatch.setenv("PIP_FIND_LINKS", str(elsewhere))
    monkeypatch.setenv("PIP_CONFIG_FILE", str(config))
    work = tmp_path / "work"
    work.mkdir()
    result = check_reality(
        bundle.root, TARGET, running_interpreter(), expected_of(bundle), PipRunner(), work
    )
    assert result.status == "failed"
    assert any(
        "dep" in p.message and "No matching distribution" in p.message for p in result.problems
    )


@pytest.mark.slow
def test_build_section_pins_are_not_unexpected(tmp_path: Path) -> None:
    bundle = make_bundle(tmp_path / "pypi", [APP, DEP, TOOL])
    requirements = bundle.root / "requirements.txt"
    text = requirements.read_text()
    # Move tool-kit's pin under the build section header.
    start = text.index("tool-kit==")
    pin = text[start:]
    text = text[:start] + "\n# Build dependencies (needed only to build sdists):\n" + pin
    requirements.write_text(text)
    expected = {NormalizedName("app"): "1.0", NormalizedName("dep"): "1.2"}
    result = check_reality(
        bundle.root, TARGET, running_interpreter(), expected, PipRunner(), tmp_path
    )
    assert result.status == "passed", messages(result)


def test_remove_tree_removes_everything_and_follows_no_link(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("kept")
    tree = tmp_path / "venv"
    for i in range(40):
        leaf = tree / "lib" / f"pkg{i % 7}" / f"sub{i % 3}"
        leaf.mkdir(parents=True, exist_ok=True)
        (leaf / f"m{i}.py").write_text("x")
    (tree / "lib64").symlink_to(tree / "lib", target_is_directory=True)
    (tree / "elsewhere").symlink_to(outside, target_is_directory=True)
    (tree / "bin").mkdir()
    (tree / "bin" / "python").symlink_to(outside / "keep.txt")
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep.txt").read_text() == "kept"


@pytest.mark.slow
def test_verify_leaves_no_venv_behind(
    bundle: Bundle, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    removed: list[Path] = []

    def counting(path: Path) -> None:
        removed.append(path)
        remove_tree(path)

    monkeypatch.setattr(live, "remove_tree", counting)
    work = tmp_path / "work"
    work.mkdir()
    with HttpClient() as client:
        report = gate.verify(bundle.root, [host_target()], client, VerifyOptions(workdir=work))
    reality = [r for r in report.results if r.check == "reality"]
    # One venv per pip: a fresh venv's own and the newest (one when they are
    # the same), and one for pylock.toml with the newest pip.
    assert 2 <= len(reality) <= 3
    assert all(r.status == "passed" for r in reality), [messages(r) for r in reality]
    version = PipRunner().pip_version()
    if version is not None and version >= PYLOCK_SINCE:
        (pylock,) = [r for r in reality if " with pylock.toml; " in r.details]
        assert pylock.details.startswith(f"pip {version} (newest) with pylock.toml; ")
    assert [p.parent for p in removed] == [work] * len(reality)
    assert list(work.iterdir()) == []


@pytest.mark.slow
def test_pylock_toml_installs_for_real_with_the_newest_pip(bundle: Bundle, tmp_path: Path) -> None:
    runner = PipRunner()
    version = runner.pip_version()
    if version is None or version < PYLOCK_SINCE:
        pytest.skip(f"pip {version} cannot install from pylock.toml (pip {PYLOCK_SINCE} can)")
    work = tmp_path / "work"
    work.mkdir()
    pip = PipChoice(str(version), NEWEST_PIP)
    result = check_reality(
        bundle.root,
        TARGET,
        running_interpreter(),
        expected_of(bundle),
        runner,
        work,
        pip=pip,
        lock="pylock.toml",
    )
    assert result.status == "passed", messages(result)
    assert result.details.startswith(f"pip {version} (newest) with pylock.toml; ")
    # Really installed from pylock.toml, the sdist built from the bundle alone.
    venv_python = work / f"venv-{safe_dirname(TARGET)}" / "bin" / "python"
    assert installed(venv_python) == {"app": "1.0", "dep": "1.2", "tool-kit": "0.5"}
    # What got installed is compared with the lock, as for requirements.txt.
    expected = {**expected_of(bundle), NormalizedName("dep"): "1.1"}
    result = check_reality(
        bundle.root, TARGET, running_interpreter(), expected, runner, work, lock="pylock.toml"
    )
    assert messages(result) == ["dep: pylock.toml; pip installed dep 1.2, the lock pins 1.1"]


class _OldPip(PipRunner):
    def pip_version(self) -> Version | None:
        return Version("25.0")


def test_a_pip_before_26_1_skips_the_pylock_install() -> None:
    interp = running_interpreter()
    row = live._pylock_install(host_target(), interp, _OldPip())
    assert isinstance(row, CheckResult)
    assert (row.check, row.status) == ("reality", "skipped")
    assert row.details == (
        "pip 25.0 (newest) with pylock.toml; pip installs from pylock.toml from 26.1 on"
    )
    newest = live._pylock_install(host_target(), interp, PipRunner())
    version = PipRunner().pip_version()
    assert (version is not None and version < PYLOCK_SINCE) or isinstance(newest, live._Install)
