"""The gate reads every lock file and every wheel of a bundle as strictly as
an installer does: a corpus of broken copies of one generated multi-target
bundle, each of which ``bundle verify --no-install`` must fail, naming the
problem, while the unbroken bundle passes."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bundler.bundle.lockfiles import manifest_lock_files
from bundler.bundle.manifest import manifest_from_json
from bundler.bundle.pagewriter import write_index
from bundler.cli.main import run
from bundler.fsutil import sha256_file
from bundler.gate.closure import expected_pins
from bundler.gate.pipview import check_pip_resolution
from bundler.gate.report import FAILED, PASSED, CheckResult
from bundler.runtime.piprun import PipRunner
from bundler.spec.target import target_from_name
from tests.support import DistSpec, IndexServer, build_all

# Two platforms, two Pythons: a Windows-only dependency (one wheel per
# Python, so two hashes) and a package with a wheel per Python and platform.
UNIVERSE = [
    DistSpec(
        "app", "1.0", requires=('winonly ; sys_platform == "win32"', "native>=1"), sdist=False
    ),
    DistSpec(
        "winonly",
        "306",
        sdist=False,
        wheel_tags=("cp311-cp311-win_amd64", "cp312-cp312-win_amd64"),
    ),
    DistSpec(
        "native",
        "1.0",
        sdist=False,
        wheel_tags=(
            "cp311-cp311-manylinux_2_17_x86_64",
            "cp312-cp312-manylinux_2_17_x86_64",
            "cp311-cp311-win_amd64",
            "cp312-cp312-win_amd64",
        ),
    ),
]
TARGET_OPTIONS = (
    *("--platform", "linux", "--platform", "windows"),
    *("--python-version", "3.11", "--python-version", "3.12"),
)
WIN311 = "cp311-win_amd64"
WIN312 = "cp312-win_amd64"
NATIVE_WIN311 = "native-1.0-cp311-cp311-win_amd64.whl"
WINONLY_311 = "winonly-306-cp311-cp311-win_amd64.whl"
WINONLY_312 = "winonly-306-cp312-cp312-win_amd64.whl"
MODULE = "native/__init__.py"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    base = tmp_path_factory.mktemp("corpus")
    build_all(UNIVERSE, base / "dists")
    (base / "requirements.in").write_text("app\n")
    bundle = base / "pypi"
    with IndexServer(base / "dists") as index:
        code = run(
            [
                "build",
                str(base / "requirements.in"),
                "-o",
                str(bundle),
                "-i",
                index.url,
                "--no-install",
                "--quiet",
                *TARGET_OPTIONS,
            ]
        )
    assert code == 0
    yield bundle


@pytest.fixture
def bundle(pristine: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "pypi"
    shutil.copytree(pristine, copy)
    return copy


def verify(bundle: Path) -> tuple[int, list[str]]:
    """``bundle verify --no-install``: the exit code and every problem as
    "subject: message"."""
    out = bundle.parent / "verify.json"
    code = run(["verify", str(bundle), "--no-install", "--quiet", "--json", str(out)])
    report = json.loads(out.read_text())
    problems = [
        f"{p['subject']}: {p['message']}" for r in report.get("results", []) for p in r["problems"]
    ]
    return code, problems


def sha256_of(bundle: Path, filename: str) -> str:
    return sha256_file(bundle / "files" / filename)[0]


def replace_in(path: Path, old: str, new: str, count: int = 1) -> None:
    text = path.read_text()
    assert text.count(old) >= count, (old, text)
    path.write_text(text.replace(old, new, count))


# --- wheel surgery (the bundle is then made consistent around the new bytes) --------


def rewrite_wheel(
    path: Path, change: Callable[[list[tuple[zipfile.ZipInfo, bytes]]], None]
) -> None:
    with zipfile.ZipFile(path) as archive:
        members = [(info, archive.read(info)) for info in archive.infolist()]
    change(members)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members:
            archive.writestr(info, data)
    path.write_bytes(buffer.getvalue())


def rehash_everywhere(bundle: Path, filename: str) -> None:
    """Record a changed file's new sha256 and size in bundle.json, both lock
    files and the pages, as a forger covering their tracks would."""
    manifest = manifest_from_json((bundle / "bundle.json").read_bytes(), "bundle.json")
    digest, size = sha256_file(bundle / "files" / filename)
    manifest = dataclasses.replace(
        manifest,
        artifacts=tuple(
            dataclasses.replace(a, sha256=digest, size=size) if a.filename == filename else a
            for a in manifest.artifacts
        ),
        packages=tuple(
            dataclasses.replace(
                p,
                files=tuple(
                    dataclasses.replace(f, sha256=digest, size=size)
                    if f.filename == filename
                    else f
                    for f in p.files
                ),
            )
            for p in manifest.packages
        ),
    )
    write_index(bundle, manifest, manifest_lock_files(manifest))


def corrupt_member(bundle: Path) -> None:
    """Flip a byte of one member's compressed data: its CRC-32 fails."""
    path = bundle / "files" / NATIVE_WIN311
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(MODULE)
    header = data[info.header_offset : info.header_offset + 30]
    start = info.header_offset + 30 + int.from_bytes(header[26:28], "little")
    start += int.from_bytes(header[28:30], "little")
    data[start + info.compress_size // 2] ^= 0x55
    path.write_bytes(bytes(data))
    rehash_everywhere(bundle, NATIVE_WIN311)


def change_member_keep_record(bundle: Path) -> None:
    def change(members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
        for i, (info, data) in enumerate(members):
            if info.filename == MODULE:
                members[i] = (info, data + b"import os; os.system('evil')\n")

    rewrite_wheel(bundle / "files" / NATIVE_WIN311, change)
    rehash_everywhere(bundle, NATIVE_WIN311)


def add_traversal_member(bundle: Path) -> None:
    def change(members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
        members.insert(0, (zipfile.ZipInfo("../evil.pth"), b"import evil\n"))

    rewrite_wheel(bundle / "files" / NATIVE_WIN311, change)
    rehash_everywhere(bundle, NATIVE_WIN311)


def set_wheel_version(bundle: Path, version: str) -> None:
    def change(members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
        for i, (info, data) in enumerate(members):
            if info.filename.endswith(".dist-info/WHEEL"):
                members[i] = (info, data.replace(b"Wheel-Version: 1.0", version.encode()))

    rewrite_wheel(bundle / "files" / NATIVE_WIN311, change)
    rehash_everywhere(bundle, NATIVE_WIN311)


def wheel_version_2(bundle: Path) -> None:
    set_wheel_version(bundle, "Wheel-Version: 2.0")


def without_wheel_file(bundle: Path) -> None:
    def change(members: list[tuple[zipfile.ZipInfo, bytes]]) -> None:
        members[:] = [(i, d) for i, d in members if not i.filename.endswith(".dist-info/WHEEL")]

    rewrite_wheel(bundle / "files" / NATIVE_WIN311, change)
    rehash_everywhere(bundle, NATIVE_WIN311)


# --- lock file edits ------------------------------------------------------------------


def change_a_hash(bundle: Path) -> None:
    replace_in(bundle / "requirements.txt", sha256_of(bundle, NATIVE_WIN311), "ab" * 32)


def delete_one_of_two_hash_lines(bundle: Path) -> None:
    path = bundle / "requirements.txt"
    digest = sha256_of(bundle, WINONLY_311)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(line for line in lines if digest not in line))


def add_a_hash(bundle: Path) -> None:
    digest = sha256_of(bundle, WINONLY_311)
    replace_in(
        bundle / "requirements.txt",
        f"--hash=sha256:{digest}",
        f"--hash=sha256:{digest} \\\n    --hash=sha256:{'cd' * 32}",
    )


def marker_to_darwin(bundle: Path) -> None:
    replace_in(bundle / "requirements.txt", 'sys_platform == "win32"', 'sys_platform == "darwin"')


def pylock_version(bundle: Path) -> None:
    replace_in(
        bundle / "pylock.toml", 'name = "app"\nversion = "1.0"', 'name = "app"\nversion = "1.1"'
    )


def pylock_marker(bundle: Path) -> None:
    replace_in(
        bundle / "pylock.toml",
        """marker = 'sys_platform == "win32"'""",
        """marker = 'sys_platform == "darwin"'""",
    )


def pylock_size(bundle: Path) -> None:
    size = (bundle / "files" / NATIVE_WIN311).stat().st_size
    text = (bundle / "pylock.toml").read_text()
    entry = re.search(rf"path = \"files/{re.escape(NATIVE_WIN311)}\", size = {size},", text)
    assert entry is not None
    replace_in(bundle / "pylock.toml", entry[0], entry[0].replace(str(size), str(size + 1)))


def pylock_drops_a_wheel(bundle: Path) -> None:
    path = bundle / "pylock.toml"
    path.write_text(
        "".join(line for line in path.read_text().splitlines(True) if WINONLY_312 not in line)
    )


def append_line(line: str) -> Callable[[Path], None]:
    def mutate(bundle: Path) -> None:
        path = bundle / "requirements.txt"
        path.write_text(path.read_text() + line + "\n")

    return mutate


def add_an_extra(bundle: Path) -> None:
    replace_in(bundle / "requirements.txt", "native==1.0", "native[fast]==1.0")


def hash_in_capitals(bundle: Path) -> None:
    digest = sha256_of(bundle, NATIVE_WIN311)
    replace_in(bundle / "requirements.txt", digest, digest.upper())


def pylock_requires_python(bundle: Path) -> None:
    replace_in(bundle / "pylock.toml", 'requires-python = ">=3.11"', 'requires-python = ">=3.12"')


def pylock_drops_an_environment(bundle: Path) -> None:
    path = bundle / "pylock.toml"
    lines = path.read_text().splitlines(True)
    (drop,) = [i for i, s in enumerate(lines) if '"3.12"' in s and "win32" in s]
    path.write_text("".join(lines[:drop] + lines[drop + 1 :]))


def drop_a_target(bundle: Path) -> None:
    path = bundle / "bundle.json"
    doc = json.loads(path.read_text())
    doc["targets"].remove(WIN312)
    path.write_text(json.dumps(doc, indent=2))


def delete(name: str) -> Callable[[Path], None]:
    return lambda bundle: (bundle / name).unlink()


MUTATIONS: dict[str, tuple[Callable[[Path], None], tuple[str, ...]]] = {
    "a hash changed in requirements.txt": (
        change_a_hash,
        ("requirements.txt: line", f"native==1.0 lacks the hash of files/{NATIVE_WIN311}", WIN311),
    ),
    "one of two --hash lines deleted": (
        delete_one_of_two_hash_lines,
        ("requirements.txt: line", f"winonly==306 lacks the hash of files/{WINONLY_311}", WIN311),
    ),
    "an extra hash": (
        add_a_hash,
        ("requirements.txt: line", "winonly==306 has the hash", "cd" * 32),
    ),
    "a marker changed from win32 to darwin": (
        marker_to_darwin,
        ("requirements.txt: line", "winonly==306", "would not be installed on", WIN311, WIN312),
    ),
    "pylock.toml version changed": (
        pylock_version,
        ("pylock.toml: line", "app-1.0-py3-none-any.whl", "package version '1.1'"),
    ),
    "pylock.toml marker changed": (
        pylock_marker,
        ("pylock.toml: line", "winonly==306", "would not be installed on", WIN311),
    ),
    "pylock.toml size changed": (pylock_size, ("pylock.toml: line", NATIVE_WIN311, "size")),
    "pylock.toml drops a wheel": (
        pylock_drops_a_wheel,
        ("pylock.toml: line", f"does not list files/{WINONLY_312}", WIN312),
    ),
    "pylock.toml deleted": (delete("pylock.toml"), ("pylock.toml: missing", "bundle download")),
    "a target dropped from bundle.json's targets": (
        drop_a_target,
        ("bundle.json: 'targets' does not list", WIN312, f"files/{WINONLY_312}", "winonly==306"),
    ),
    "a --no-binary line added": (
        append_line("--no-binary :all:"),
        ("requirements.txt: line 22: is not what bundler writes", "'--no-binary :all:'"),
    ),
    "a --no-binary line for one package": (
        append_line("--no-binary winonly"),
        ("requirements.txt: line 22:", "'--no-binary winonly'", "the end of the file"),
    ),
    "an extra added to a pin": (
        add_an_extra,
        ("requirements.txt: line 12:", "'native[fast]==1.0 \\\\'", "'native==1.0 \\\\'"),
    ),
    "a hash in capitals": (hash_in_capitals, ("requirements.txt: line 1", "is not what")),
    "pylock.toml requires-python changed": (
        pylock_requires_python,
        ("pylock.toml: line 9:", "'requires-python = \">=3.12\"'", "bundle download LOCK"),
    ),
    "pylock.toml drops an environment": (
        pylock_drops_an_environment,
        ("pylock.toml: line 7:", "is not what bundler writes from bundle.json"),
    ),
    "requirements.txt deleted": (
        delete("requirements.txt"),
        ("requirements.txt: missing", "bundle download"),
    ),
    "a corrupted wheel member, hashes updated everywhere": (
        corrupt_member,
        (f"files/{NATIVE_WIN311}: member {MODULE!r} is corrupt",),
    ),
    "a RECORD mismatch, hashes updated everywhere": (
        change_member_keep_record,
        (f"files/{NATIVE_WIN311}: member {MODULE!r} does not match RECORD",),
    ),
    "a ../ member, hashes updated everywhere": (
        add_traversal_member,
        (f"files/{NATIVE_WIN311}: has the member '../evil.pth'", "outside"),
    ),
    "Wheel-Version 2.0, hashes updated everywhere": (
        wheel_version_2,
        (f"files/{NATIVE_WIN311}: native-1.0.dist-info/WHEEL has Wheel-Version 2.0", "refuse"),
    ),
    "no WHEEL file, hashes updated everywhere": (
        without_wheel_file,
        (f"files/{NATIVE_WIN311}: has no native-1.0.dist-info/WHEEL",),
    ),
}


def test_the_unbroken_bundle_passes(bundle: Path) -> None:
    code, problems = verify(bundle)
    assert (code, problems) == (0, [])
    # Sanity of the corpus: what the mutations rely on is there.
    text = (bundle / "requirements.txt").read_text()
    assert sha256_of(bundle, WINONLY_311) in text and sha256_of(bundle, WINONLY_312) in text
    assert 'sys_platform == "win32"' in text


@pytest.mark.parametrize("name", list(MUTATIONS))
def test_each_mutation_fails_the_gate_naming_it(bundle: Path, name: str) -> None:
    mutate, fragments = MUTATIONS[name]
    mutate(bundle)
    code, problems = verify(bundle)
    assert code == 1, problems
    assert any(all(f in p for f in fragments) for p in problems), (fragments, problems)


def pip_view(bundle: Path, target: str) -> CheckResult:
    """pip's dry run for a Windows target of the corpus, with its own pins."""
    manifest = manifest_from_json((bundle / "bundle.json").read_bytes(), "bundle.json")
    pins = expected_pins(manifest, target_from_name(target))
    requirements = bundle.parent / "pins.txt"
    requirements.write_text("".join(f"{n}=={v}\n" for n, v in sorted(pins.items())))
    return check_pip_resolution(
        bundle, target, ["win_amd64"], "3.11", pins, PipRunner(), requirements=requirements
    )


@pytest.mark.slow
def test_pips_dry_run_agrees_on_the_unbroken_bundle(bundle: Path) -> None:
    assert pip_view(bundle, WIN311).status == PASSED


@pytest.mark.slow
def test_a_pip_that_refuses_a_bundle_file_fails_the_gate(bundle: Path) -> None:
    wheel_version_2(bundle)
    result = pip_view(bundle, WIN311)
    assert result.status == FAILED
    version = PipRunner().pip_version()
    assert result.details == f"pip {version} failed"
    (problem,) = result.problems
    assert (problem.subject, problem.target) == ("pip", WIN311)
    assert problem.message.startswith(f"pip {version} cannot install the bundle for {WIN311}")
    assert "Wheel-Version (2.0) is not compatible" in problem.message.splitlines()[0]


def test_line_ends_are_the_only_leeway(bundle: Path) -> None:
    """pip and TOML read CRLF as LF: a lock checked out with CRLF passes."""
    for name in ("requirements.txt", "pylock.toml"):
        path = bundle / name
        path.write_bytes(path.read_bytes().replace(b"\n", b"\r\n"))
    assert verify(bundle) == (0, [])


def test_an_older_bundles_no_index_line_says_how_to_rewrite_it(bundle: Path) -> None:
    """Bundles made before the lock named no package source carry
    ``--no-index``: the message says how to rewrite the lock files."""
    path = bundle / "requirements.txt"
    lines = path.read_text().splitlines(True)
    path.write_text("".join([*lines[:8], "--no-index\n", *lines[8:]]))
    code, problems = verify(bundle)
    assert code == 1
    assert (
        "requirements.txt: line 9: is not what bundler writes from bundle.json:"
        " it has '--no-index', bundle.json gives 'app==1.0 \\\\' (made by hand, or by an"
        " older bundler: rewrite the lock files with `bundle download LOCK -o DIR`"
    ) in "\n".join(problems)


def test_a_bundle_made_with_only_binary_renders_as_it_was_written(tmp_path: Path) -> None:
    """--only-binary goes into the bundle's requirements.txt, so bundle.json
    records it: the lock files are rendered from bundle.json alone."""
    build_all(UNIVERSE, tmp_path / "dists")
    (tmp_path / "requirements.in").write_text("--only-binary :all:\napp\n")
    bundle = tmp_path / "pypi"
    with IndexServer(tmp_path / "dists") as index:
        args = ["build", str(tmp_path / "requirements.in"), "-o", str(bundle), "-i", index.url]
        assert run([*args, "--no-install", "--quiet", *TARGET_OPTIONS]) == 0
    assert "\n--only-binary :all:\n" in (bundle / "requirements.txt").read_text()
    assert json.loads((bundle / "bundle.json").read_text())["only_binary"] == [":all:"]
    assert verify(bundle) == (0, [])


def test_a_page_linking_a_file_elsewhere_fails_without_fetching_it(tmp_path: Path) -> None:
    # The page of lib links its locked wheel on another host, with no hash
    # (the same bytes there): the gate resolves against the bundle alone,
    # so it never asks that host (which a tampered bundle could point
    # anywhere, or at a port that makes each attempt wait), and fails.
    build_all([DistSpec("lib", "1.0", sdist=False)], tmp_path / "dists")
    (tmp_path / "requirements.in").write_text("lib\n")
    bundle = tmp_path / "pypi"
    with IndexServer(tmp_path / "dists") as index:
        argv = ["build", str(tmp_path / "requirements.in"), "-o", str(bundle), "-i", index.url]
        assert run([*argv, "--no-install", "--quiet"]) == 0
    wheel = "lib-1.0-py3-none-any.whl"
    with IndexServer(tmp_path / "dists") as other:
        url = f"{other.url}{wheel}"
        page = bundle / "simple" / "lib" / "index.html"
        link = f'<a href="{url}">{wheel}</a><br>'
        page.write_text(re.sub(r"<a href=.*</a><br>", link, page.read_text()))
        (bundle / "simple" / "lib" / "index.json").unlink()
        code, problems = verify(bundle)
        assert other.log == [], other.log
    assert code == 1, problems
    assert (
        f"resolution: {url}: not in the bundle, and the gate resolves against the bundle alone"
    ) in problems, problems
