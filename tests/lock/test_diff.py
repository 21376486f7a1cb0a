"""`bundle diff`: what changes between two bundles or locks, and the policy
gate over it (--fail-on)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.utils import canonicalize_name

from bundler.cli.main import run
from bundler.errors import UsageError
from bundler.lock.diff import (
    DOWNGRADE,
    Change,
    FileEntry,
    Release,
    Snapshot,
    diff_snapshots,
    parse_fail_on,
    violations,
)
from bundler.lock.diffreport import render_markdown
from tests.support import DistSpec, IndexServerFactory, build_all

SPECS = [
    DistSpec("app", "1.0", requires=("lib==1.0", "helper")),
    DistSpec("app", "2.0", requires=("lib==0.9", "newdep")),
    DistSpec("lib", "1.0"),
    DistSpec("lib", "0.9"),
    DistSpec("helper", "1.0"),
    # sdist only, built with a backend requirement of its own.
    DistSpec("newdep", "1.0", wheel=False, build_requires=("buildtool",)),
    DistSpec("buildtool", "1.0"),
]


def build(tmp_path: Path, index: str, requirement: str, name: str) -> Path:
    req = tmp_path / f"{name}.in"
    req.write_text(f"{requirement}\n")
    out = tmp_path / name
    args = ["build", str(req), "-o", str(out), "-i", index, "--no-install", "--quiet"]
    assert run(args) == 0
    return out


@pytest.fixture
def bundles(tmp_path: Path, index_server: IndexServerFactory) -> tuple[Path, Path]:
    index = str(index_server(SPECS).url)
    return build(tmp_path, index, "app==1.0", "old"), build(tmp_path, index, "app==2.0", "new")


def diff_json(tmp_path: Path, *args: str) -> tuple[int, dict[str, object]]:
    out = tmp_path / "diff.json"
    code = run(["diff", *args, "--quiet", "--json", str(out)])
    data: dict[str, object] = json.loads(out.read_text())
    return code, data


def test_diff_of_two_bundles(
    bundles: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = bundles
    capsys.readouterr()
    assert run(["diff", str(old), str(new), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "  v lib 1.0 -> 0.9 (downgrade)\n" in text
    assert "  ^ app 1.0 -> 2.0 (upgrade)\n" in text
    assert "  + newdep 1.0\n" in text
    assert "  - helper 1.0\n" in text
    assert "new sdists (built from source at install):\n  newdep-1.0.tar.gz" in text
    assert "new build-only packages:\n  buildtool 1.0\n" in text
    assert "HASH CHANGED" not in text

    code, data = diff_json(tmp_path, str(old), str(new))
    assert code == 0
    assert data["counts"] == {
        "added": 1,
        "removed": 1,
        "upgrade": 1,
        "downgrade": 1,
        "new-sdist": 1,
        "new-build-only": 1,
        "hash-change": 0,
    }
    size = data["size"]
    assert isinstance(size, dict)
    old_total = sum(a["size"] for a in json.loads((old / "bundle.json").read_text())["artifacts"])
    new_total = sum(a["size"] for a in json.loads((new / "bundle.json").read_text())["artifacts"])
    assert size == {"old": old_total, "new": new_total, "change": new_total - old_total}


def test_fail_on_turns_findings_into_exit_1(
    bundles: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = bundles
    assert run(["diff", str(old), str(new), "--fail-on", "downgrade,new-sdist"]) == 1
    err = capsys.readouterr().err
    assert "--fail-on downgrade,new-sdist: the diff has 1 downgrade, 1 new-sdist" in err
    # The other way round no sdist and no build-only package is new.
    assert run(["diff", str(new), str(old), "--fail-on", "new-sdist,new-build-only", "-q"]) == 0
    assert run(["diff", str(old), str(new), "--fail-on", "hash-change", "-q"]) == 0


def test_fail_on_an_unknown_finding_is_a_usage_error(
    bundles: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, new = bundles
    assert run(["diff", str(old), str(new), "--fail-on", "downgrade,typo"]) == 2
    err = capsys.readouterr().err
    assert "unknown finding 'typo'" in err and "hash-change" in err
    with pytest.raises(UsageError):
        parse_fail_on(",")


def test_diff_of_locks_and_of_a_lock_against_a_bundle(
    bundles: tuple[Path, Path], tmp_path: Path
) -> None:
    old, new = bundles
    for old_side, new_side in [
        (old / "requirements.txt", new / "requirements.txt"),
        (old / "pylock.toml", new / "pylock.toml"),
        (old / "requirements.txt", new),
    ]:
        code, data = diff_json(tmp_path, str(old_side), str(new_side))
        assert code == 0
        counts = data["counts"]
        assert isinstance(counts, dict)
        assert counts["downgrade"] == 1 and counts["upgrade"] == 1, (old_side, new_side)
        assert counts["added"] == 1 and counts["removed"] == 1
    # A requirements lock gives no file names: the new sdist shows only
    # where files are named (pylock.toml, a bundle).
    _, data = diff_json(tmp_path, str(old / "pylock.toml"), str(new / "pylock.toml"))
    assert data["new_sdists"] == [
        {"name": "newdep", "version": "1.0", "filename": "newdep-1.0.tar.gz"}
    ]
    _, data = diff_json(tmp_path, str(old / "requirements.txt"), str(new / "requirements.txt"))
    assert data["size"] == {"old": None, "new": None, "change": None}
    # Against a lock that has its hash, the sdist is not new.
    _, data = diff_json(tmp_path, str(new / "requirements.txt"), str(new))
    assert data["new_sdists"] == []
    _, data = diff_json(tmp_path, str(old / "requirements.txt"), str(new))
    sdists = data["new_sdists"]
    assert isinstance(sdists, list)
    assert [f["filename"] for f in sdists] == ["newdep-1.0.tar.gz"]


def test_a_changed_hash_for_the_same_version_is_flagged(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    first = str(index_server([DistSpec("lib", "1.0")]).url)
    rebuilt = DistSpec("lib", "1.0", metadata_fields=("Summary: other bytes",))
    second = str(index_server([rebuilt]).url)
    old = build(tmp_path, first, "lib", "old")
    new = build(tmp_path, second, "lib", "new")
    capsys.readouterr()
    assert run(["diff", str(old), str(new), "--fail-on", "hash-change"]) == 1
    captured = capsys.readouterr()
    assert "HASH CHANGED" in captured.out
    assert "lib 1.0: lib-1.0-py3-none-any.whl: sha256 " in captured.out
    assert "the diff has 1 hash-change" in captured.err
    # Locks that give hashes only: no hash in common is a change too.
    _, data = diff_json(tmp_path, str(old / "requirements.txt"), str(new / "requirements.txt"))
    changes = data["hash_changes"]
    assert isinstance(changes, list) and len(changes) == 1
    assert changes[0]["filename"] is None


def test_bad_sides_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["diff", str(tmp_path / "nope"), str(tmp_path)]) == 2
    assert "no such bundle directory or lock file" in capsys.readouterr().err
    assert run(["diff", str(tmp_path), str(tmp_path)]) == 2
    assert "not a bundle (bundle.json is missing)" in capsys.readouterr().err
    bad = tmp_path / "requirements.txt"
    bad.write_text("lib==1.0 --hash=sha256:zz\n")
    assert run(["diff", str(bad), str(bad)]) == 2
    assert "requirements.txt" in capsys.readouterr().err


def _release(name: str, version: str, targets: tuple[str, ...], **kw: object) -> Release:
    return Release(canonicalize_name(name), version, targets, **kw)  # type: ignore[arg-type]


def test_changes_are_per_target() -> None:
    linux, mac = "cp312-manylinux_2_28_x86_64", "cp312-macosx_14_0_arm64"
    old = Snapshot(
        "old",
        (linux, mac),
        (
            _release("numpy", "2.0", (linux,)),
            _release("numpy", "1.26", (mac,)),
        ),
    )
    new = Snapshot(
        "new",
        (linux, mac),
        (
            _release("numpy", "1.26", (linux,)),
            _release("numpy", "2.1", (mac,), files=(FileEntry("a" * 64, "x.whl", 10),)),
        ),
    )
    diff = diff_snapshots(old, new)
    by_target = {t.target: t.changes for t in diff.targets}
    assert by_target[linux] == (Change(DOWNGRADE, canonicalize_name("numpy"), "2.0", "1.26"),)
    assert by_target[mac] == (Change("upgrade", canonicalize_name("numpy"), "1.26", "2.1"),)
    assert violations(diff, {"downgrade", "hash-change"}) == ["1 downgrade"]
    markdown = render_markdown(diff)
    assert f"#### `{linux}`" in markdown
    assert "| numpy | 2.0 | 1.26 | downgrade |" in markdown


def test_markdown_escapes_what_it_quotes() -> None:
    old = Snapshot("a|b", ("t",), ())
    new = Snapshot("new", ("t",), (_release("x", "1", ("t",)),))
    markdown = render_markdown(diff_snapshots(old, new))
    assert "a\\|b" in markdown
    assert "| x |  | 1 | added |" in markdown


# --- a published index as a side ------------------------------------------------------

LIB_WHEEL = "lib-1.0-py3-none-any.whl"


def _rebuilt_lib(where: Path) -> Path:
    """lib 1.0's wheel with other bytes under the same name."""
    built = build_all([DistSpec("lib", "1.0", metadata_fields=("Summary: other bytes",))], where)
    return next(p for p in built if p.name == LIB_WHEEL)


def test_an_index_side_lists_the_locks_releases(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server = index_server(SPECS)
    bundle = build(tmp_path, str(server.url), "app==1.0", "pypi")
    url = str(server.url)
    # The index lists sdists the bundle does not carry: beside the lock's
    # files, they are neither new sdists nor a change.
    assert any(p.name.endswith(".tar.gz") for p in server.files_dir.iterdir())
    assert not any(p.name.endswith(".tar.gz") for p in (bundle / "files").iterdir())
    for lock in (bundle, bundle / "requirements.txt", bundle / "pylock.toml"):
        code, data = diff_json(tmp_path, str(bundle), str(lock), "--new-index-url", url)
        counts = data["counts"]
        assert code == 0 and isinstance(counts, dict) and set(counts.values()) == {0}, data
        assert data["new"] == f"{lock} at {url}"

    # The index replaces lib's wheel: the same version, other bytes.
    shutil.copyfile(_rebuilt_lib(tmp_path / "rebuilt"), server.files_dir / LIB_WHEEL)
    for lock in (bundle, bundle / "requirements.txt", bundle / "pylock.toml"):
        capsys.readouterr()
        argv = ["diff", str(bundle), str(lock), "--new-index-url", url, "--fail-on", "hash-change"]
        assert run(argv) == 1, lock
        captured = capsys.readouterr()
        assert f"lib 1.0: {LIB_WHEEL}: sha256 " in captured.out, captured.out
        assert "the diff has 1 hash-change" in captured.err
    # The old side may be the index too.
    code, data = diff_json(
        tmp_path, str(bundle / "pylock.toml"), str(bundle), "--old-index-url", url
    )
    counts = data["counts"]
    assert code == 0 and isinstance(counts, dict) and counts["hash-change"] == 1


@contextlib.contextmanager
def _http_server(root: Path) -> Iterator[str]:
    """``python -m http.server`` over ``root`` on 127.0.0.1: its URL."""
    proc = subprocess.Popen(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stdout is not None
    match = re.search(r"port (\d+)", proc.stdout.readline())
    assert match
    try:
        yield f"http://127.0.0.1:{match.group(1)}/"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        proc.stdout.close()


@pytest.fixture
def published(bundles: tuple[Path, Path], tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """The old bundle published to a directory, served by a static web server."""
    dest = tmp_path / "published"
    assert run(["publish", str(bundles[0]), str(dest), "--no-check", "--quiet"]) == 0
    with _http_server(dest) as url:
        yield dest, url + "simple/"


def test_a_directory_listing_without_hashes(
    bundles: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A web server's directory listings give no hash: each file is fetched
    and hashed."""
    old, _ = bundles
    dest = tmp_path / "autoindex"
    argv = ["publish", str(old), str(dest), "--layout", "autoindex", "--no-check", "-q"]
    assert run(argv) == 0
    with _http_server(dest) as url:
        for lock in (old, old / "requirements.txt"):
            code, data = diff_json(tmp_path, str(old), str(lock), "--new-index-url", url)
            counts = data["counts"]
            assert code == 0 and isinstance(counts, dict) and set(counts.values()) == {0}, data
        shutil.copyfile(_rebuilt_lib(tmp_path / "rebuilt"), dest / "lib" / LIB_WHEEL)
        capsys.readouterr()
        argv = ["diff", str(old), str(old), "--new-index-url", url, "--fail-on", "hash-change"]
        assert run(argv) == 1
        assert f"lib 1.0: {LIB_WHEEL}: sha256 " in capsys.readouterr().out


def test_a_published_directory_against_its_bundle(
    bundles: tuple[Path, Path],
    published: tuple[Path, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    old, new = bundles
    dest, url = published
    lock = str(old / "requirements.txt")
    assert run(["diff", str(old), lock, "--new-index-url", url, "-q"]) == 0
    assert "target " in capsys.readouterr().out
    # NEW as an index that has only OLD serves it: none of its releases.
    code, data = diff_json(tmp_path, str(new), str(new / "pylock.toml"), "--new-index-url", url)
    assert code == 0
    targets = data["targets"]
    assert isinstance(targets, list)
    changes = [c for t in targets for c in t["changes"]]
    assert {(c["kind"], c["name"], c["old"]) for c in changes} == {
        ("removed", "app", "2.0"),
        ("removed", "lib", "0.9"),
        ("removed", "newdep", "1.0"),
    }

    # A file replaced at the index (its page says so) and a release gone.
    wheel = dest / "files" / LIB_WHEEL
    before = hashlib.sha256(wheel.read_bytes()).hexdigest()
    shutil.copyfile(_rebuilt_lib(tmp_path / "rebuilt"), wheel)
    after = hashlib.sha256(wheel.read_bytes()).hexdigest()
    page = dest / "simple" / "lib" / "index.html"
    page.write_text(page.read_text().replace(before, after))
    # http.server's Last-Modified has whole seconds: a page rewritten within
    # the second it was first served would revalidate as not modified.
    mtime = page.stat().st_mtime + 10
    os.utime(page, (mtime, mtime))
    shutil.rmtree(dest / "simple" / "helper")
    capsys.readouterr()
    argv = ["diff", str(old), lock, "--new-index-url", url, "--fail-on", "hash-change,removed"]
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert "  - helper 1.0\n" in captured.out
    flagged = "HASH CHANGED for the same version (a published file never changes):\n"
    assert f"{flagged}  lib 1.0: {LIB_WHEEL}: sha256 {before} -> {after}\n" in captured.out
    assert "the diff has 1 removed, 1 hash-change" in captured.err


def test_a_bad_index_url_is_a_usage_error(
    bundles: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    old, _ = bundles
    assert run(["diff", str(old), str(old), "--new-index-url", "not a url"]) == 2
    assert "--new-index-url" in capsys.readouterr().err


def test_an_index_url_with_credentials_is_never_printed(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    open_index = str(index_server([DistSpec("lib", "1.0")]).url)
    bundle = build(tmp_path, open_index, "lib", "pypi")
    server = index_server([DistSpec("lib", "1.0")], auth=("user", "s3cret"))
    url = str(server.url).replace("http://", "http://user:s3cret@")
    capsys.readouterr()
    out = tmp_path / "diff.json"
    argv = ["diff", str(bundle), str(bundle), "--new-index-url", url, "--json", str(out)]
    assert run(argv) == 0
    captured = capsys.readouterr()
    assert "target " in captured.out
    assert "s3cret" not in captured.out + captured.err + out.read_text()
    assert json.loads(out.read_text())["new"] == f"{bundle} at {server.url}".replace(
        "http://", "http://user:***@"
    )


def test_a_hash_replaced_beside_a_shared_one_is_a_change(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Requirements locks give hashes only: one of a pin's hashes swapped for
    another is other bytes, even when a second hash still matches; hashes
    only added (a new platform's wheel) are not."""
    a, b, c, d = ("a" * 64, "b" * 64, "c" * 64, "d" * 64)
    old = tmp_path / "old.txt"
    old.write_text(f"lib==1.0 --hash=sha256:{a} --hash=sha256:{b}\n")
    new = tmp_path / "new.txt"
    new.write_text(f"lib==1.0 --hash=sha256:{a} --hash=sha256:{c}\n")
    capsys.readouterr()
    assert run(["diff", str(old), str(new), "--fail-on", "hash-change"]) == 1
    captured = capsys.readouterr()
    assert f"lib 1.0: its files: sha256 {b} -> {c}" in captured.out
    assert "the diff has 1 hash-change" in captured.err
    _, data = diff_json(tmp_path, str(old), str(new))
    assert data["hash_changes"] == [
        {"name": "lib", "version": "1.0", "filename": None, "old": [b], "new": [c]}
    ]
    more = tmp_path / "more.txt"
    more.write_text(f"lib==1.0 --hash=sha256:{a} --hash=sha256:{b} --hash=sha256:{d}\n")
    assert run(["diff", str(old), str(more), "--fail-on", "hash-change", "-q"]) == 0
