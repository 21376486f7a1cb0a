"""``bundle publish`` to a directory, and the post-publish gate
(``bundle verify --index-url``): two bundles from a generated index, merged
into one destination, served by ``python -m http.server`` on 127.0.0.1 and
installed with real pip."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bundler import fsutil
from bundler.bundle.layout import STAMP_NAME
from bundler.cli.main import run
from bundler.fsutil import copy_hashing
from bundler.publish import directory as directory_module
from bundler.publish.core import publish
from bundler.publish.destination import Held, PublishFile
from bundler.publish.directory import DirectoryDestination
from bundler.publish.plan import REFUSE, SKIP, UPLOAD, PublishRefused, plan
from bundler.reporting import Reporter
from tests.support import (
    DistSpec,
    IndexConfig,
    IndexServer,
    build_all,
    installed,
    make_venv,
    pip_run,
    yanked_files,
)
from tests.support.faults import fail_at, tree_state
from tests.support.piputil import clean_pip_env

UNIVERSE = [
    DistSpec("webby", "1.0", requires=("helper>=2",)),
    DistSpec("helper", "2.0", requires_python=">=3.8"),
    DistSpec("other", "1.0", requires=("helper",)),
    DistSpec("old", "1.0", yanked="broken build"),
]
# The same name as UNIVERSE's helper 2.0 wheel, other bytes.
CONFLICTING = [DistSpec("helper", "2.0", requires_python=">=3.7")]
HELPER_WHEEL = "helper-2.0-py3-none-any.whl"
MANY = [DistSpec(f"part{i}", "1.0") for i in range(40)]
# ``http_server(directory) -> root URL`` of python -m http.server over it.
HttpServerFactory = Callable[[Path], str]


@dataclass(frozen=True)
class Bundles:
    a: Path  # webby, helper
    b: Path  # other, helper (shared), old (yanked, pinned exactly)
    c: Path  # helper 2.0 built again: other bytes
    many: Path  # forty projects


@pytest.fixture(scope="module")
def bundles(tmp_path_factory: pytest.TempPathFactory) -> Bundles:
    base = tmp_path_factory.mktemp("publish")
    build_all(UNIVERSE, base / "dists")
    build_all(CONFLICTING, base / "dists-c")
    build_all(MANY, base / "dists-many")
    inputs = {"a": "webby\n", "b": "other\nold==1.0\n", "c": "helper==2.0\n", "many": ""}
    inputs["many"] = "".join(f"{s.name}\n" for s in MANY)
    dists = {"a": "dists", "b": "dists", "c": "dists-c", "many": "dists-many"}
    for name, text in inputs.items():
        (base / f"{name}.in").write_text(text)
        config = IndexConfig(yanked=yanked_files(UNIVERSE))
        with IndexServer(base / dists[name], config) as index:
            argv = ["build", str(base / f"{name}.in"), "-o", str(base / name), "-i", index.url]
            assert run([*argv, "--no-install", "--quiet"]) == 0
    return Bundles(base / "a", base / "b", base / "c", base / "many")


def _copy(bundle: Path, tmp_path: Path) -> Path:
    out = tmp_path / f"copy-{bundle.name}"
    shutil.copytree(bundle, out)
    return out


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".publish.lock"
    }


def _publish(*argv: str, json_out: Path | None = None) -> int:
    extra = ["--json", str(json_out)] if json_out is not None else []
    return run(["publish", *argv, "--quiet", *extra])


def _problems(json_out: Path) -> list[str]:
    doc = json.loads(json_out.read_text())
    report = doc.get("check", doc)
    return [f"{p['subject']}: {p['message']}" for r in report["results"] for p in r["problems"]]


@pytest.fixture
def http_server() -> Iterator[HttpServerFactory]:
    """``python -m http.server`` over a directory, on 127.0.0.1."""
    procs: list[subprocess.Popen[str]] = []

    def start(directory: Path) -> str:
        proc = subprocess.Popen(
            [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
            cwd=directory,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        procs.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"port (\d+)", line)
        assert match, f"http.server said {line!r}"
        return f"http://127.0.0.1:{match.group(1)}/"

    yield start
    for proc in procs:
        proc.terminate()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _pip_env() -> dict[str, str]:
    """A clean pip environment that reaches 127.0.0.1 directly."""
    return {k: v for k, v in clean_pip_env().items() if not k.lower().endswith("_proxy")}


def _install(index_url: str, requirements: Path, venv: Path) -> dict[str, str]:
    python = make_venv(venv)
    pip_run(
        ["install", "--index-url", index_url, "--require-hashes", "-r", str(requirements)],
        python=python,
        env=_pip_env(),
    )
    return installed(python)


# --- the plan ------------------------------------------------------------------


def test_the_plan_uploads_new_skips_same_and_refuses_other_bytes(bundles: Bundles) -> None:
    from bundler.gate.verify import load_bundle

    artifacts = load_bundle(bundles.a).artifacts
    helper = next(a for a in artifacts if a.filename == HELPER_WHEEL)
    same = plan(artifacts, {HELPER_WHEEL: Held(HELPER_WHEEL, helper.sha256)})
    assert same.named(SKIP) == (HELPER_WHEEL,) and len(same.named(UPLOAD)) == 1
    other = plan(artifacts, {HELPER_WHEEL: Held(HELPER_WHEEL, "0" * 64)})
    assert [f.filename for f in other.refused] == [HELPER_WHEEL]
    assert other.refused[0].action == REFUSE and "0" * 64 in other.refused[0].reason


class _Listed:
    """A destination that lists files without hashes (as some upload
    APIs do) and records what it is given."""

    def __init__(self, held: dict[str, Held]) -> None:
        self._held = held
        self.put_files: list[str] = []

    def describe(self) -> str:
        return "listed"

    def read_url(self) -> str | None:
        return None

    def held(self, projects: Sequence[str]) -> Mapping[str, Held]:
        return self._held

    def put(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        self.put_files += [f.artifact.filename for f in files]


def test_files_held_without_a_hash_are_hashed_before_the_plan(bundles: Bundles) -> None:
    from bundler.gate.verify import load_bundle

    manifest = load_bundle(bundles.a)
    helper = next(a for a in manifest.artifacts if a.filename == HELPER_WHEEL)
    listed = {HELPER_WHEEL: Held(HELPER_WHEEL, None, "https://index.invalid/helper.whl")}
    asked: list[str] = []

    def hash_url(url: str) -> str:
        asked.append(url)
        return helper.sha256

    same = _Listed(dict(listed))
    result = publish(bundles.a, manifest, same, hash_url=hash_url)
    assert asked == ["https://index.invalid/helper.whl"]
    assert result.plan.named(SKIP) == (HELPER_WHEEL,)
    assert same.put_files == ["webby-1.0-py3-none-any.whl"]

    other = _Listed(dict(listed))
    with pytest.raises(PublishRefused, match=HELPER_WHEEL):
        publish(bundles.a, manifest, other, hash_url=lambda url: "0" * 64)
    assert other.put_files == []  # refused before anything was sent


# --- only a verified bundle ----------------------------------------------------


def test_a_bundle_without_a_stamp_is_refused(bundles: Bundles, tmp_path: Path) -> None:
    bundle = _copy(bundles.a, tmp_path)
    (bundle / STAMP_NAME).unlink()
    out = tmp_path / "out.json"
    assert _publish(str(bundle), str(tmp_path / "dest"), json_out=out) == 1
    assert "has not passed `bundle verify`" in json.loads(out.read_text())["error"]
    assert not (tmp_path / "dest").exists()


def test_a_stale_stamp_is_refused(bundles: Bundles, tmp_path: Path) -> None:
    bundle = _copy(bundles.a, tmp_path)
    manifest = bundle / "bundle.json"
    manifest.write_text(json.dumps(json.loads(manifest.read_text()), indent=1))
    out = tmp_path / "out.json"
    assert _publish(str(bundle), str(tmp_path / "dest"), json_out=out) == 1
    assert "stale" in json.loads(out.read_text())["error"]
    assert not (tmp_path / "dest").exists()


def test_a_failed_stamp_is_refused_and_verify_first_decides(
    bundles: Bundles, tmp_path: Path
) -> None:
    bundle = _copy(bundles.a, tmp_path)
    extra = bundle / "files" / "stray.txt"
    extra.write_text("not in the manifest")
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 1
    extra.unlink()
    out = tmp_path / "out.json"
    assert _publish(str(bundle), str(tmp_path / "dest"), json_out=out) == 1
    assert "failed `bundle verify`" in json.loads(out.read_text())["error"]
    assert not (tmp_path / "dest").exists()
    # --verify runs the gate again: the bundle is whole now, and publishes.
    assert _publish(str(bundle), str(tmp_path / "dest"), "--verify", "--no-check") == 0
    assert (tmp_path / "dest" / "files" / HELPER_WHEEL).is_file()


def test_a_bundle_tampered_after_verify_is_refused(bundles: Bundles, tmp_path: Path) -> None:
    bundle = _copy(bundles.a, tmp_path)
    wheel = bundle / "files" / HELPER_WHEEL
    wheel.write_bytes(wheel.read_bytes() + b"tampered")
    out = tmp_path / "out.json"
    assert _publish(str(bundle), str(tmp_path / "dest"), json_out=out) == 1
    error = json.loads(out.read_text())["error"]
    assert "changed since `bundle verify` passed" in error and HELPER_WHEEL in error
    assert not (tmp_path / "dest").exists()


# --- never replaces bytes ----------------------------------------------------------


def test_other_bytes_under_a_published_name_are_refused(bundles: Bundles, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    assert _publish(str(bundles.a), str(dest), "--no-check") == 0
    before = _tree(dest)
    out = tmp_path / "out.json"
    assert _publish(str(bundles.c), str(dest), "--no-check", json_out=out) == 1
    doc = json.loads(out.read_text())
    assert HELPER_WHEEL in doc["error"] and "nothing was published" in doc["error"]
    assert _tree(dest) == before


def test_dry_run_lists_upload_skip_and_refuse_and_writes_nothing(
    bundles: Bundles, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    dest = tmp_path / "dest"
    out = tmp_path / "out.json"
    assert _publish(str(bundles.a), str(dest), "--dry-run", json_out=out) == 0
    assert not dest.exists()
    assert sorted(json.loads(out.read_text())["publish"]["would_upload"]) == [
        HELPER_WHEEL,
        "webby-1.0-py3-none-any.whl",
    ]
    assert _publish(str(bundles.a), str(dest), "--no-check") == 0
    before = _tree(dest)
    capsys.readouterr()
    assert _publish(str(bundles.b), str(dest), "--dry-run") == 0
    lines = capsys.readouterr().err
    assert f"skip {HELPER_WHEEL}" in lines and "upload other-1.0-py3-none-any.whl" in lines
    assert _publish(str(bundles.c), str(dest), "--dry-run", json_out=out) == 1
    refused = json.loads(out.read_text())["publish"]["refused"]
    assert [r["filename"] for r in refused] == [HELPER_WHEEL]
    assert _tree(dest) == before


@pytest.mark.parametrize("layout", ["simple", "autoindex"])
@pytest.mark.parametrize("step", ["temp_file_beside", "_put_in_place"])
def test_a_publish_failing_at_any_write_leaves_dest_as_it_was(
    bundles: Bundles,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    layout: str,
    step: str,
) -> None:
    # A full disk at each write in turn (making a temp file, or putting one
    # in place), until the publish gets through: every failed one exits 1
    # and leaves the destination as it was, byte for byte, no directory
    # added (a new project's directory is a project to a directory listing).
    dest = tmp_path / "dest"
    argv = ["--no-check", "--layout", layout]
    assert _publish(str(bundles.a), str(dest), *argv) == 0
    before = tree_state(dest)
    real = getattr(fsutil, step)
    failures = 0
    while True:
        monkeypatch.setattr(fsutil, step, fail_at(failures + 1, real))
        code = _publish(str(bundles.b), str(dest), *argv)
        err = capsys.readouterr().err
        if code == 0:
            break
        failures += 1
        assert code == 1, err
        assert "Traceback" not in err
        assert tree_state(dest) == before, (step, failures)
        if step == "temp_file_beside":
            assert "no space left on device" in err and "nothing was published" in err
    # Bundle b adds two projects (other, old): at least a file each.
    assert failures >= 2
    monkeypatch.undo()
    after = tree_state(dest)
    assert after != before
    published = dest / "files" if layout == "simple" else dest / "other"
    assert (published / "other-1.0-py3-none-any.whl").is_file()


def test_a_bundle_file_that_changes_midway_publishes_nothing(
    bundles: Bundles, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The second file copied changes under the publish: the first, already
    # copied, must not be left in a directory listing.
    dest = tmp_path / "dest"
    argv = ["--no-check", "--layout", "autoindex"]
    assert _publish(str(bundles.a), str(dest), *argv) == 0
    before = tree_state(dest)
    real = copy_hashing
    copies = 0

    def changing(src: Any, out: Any, *rest: Any) -> tuple[str, int]:
        nonlocal copies
        copies += 1
        digest, size = real(src, out, *rest)
        return ("0" * 64 if copies == 2 else digest), size

    monkeypatch.setattr(directory_module, "copy_hashing", changing)
    out = tmp_path / "out.json"
    assert _publish(str(bundles.b), str(dest), *argv, json_out=out) == 1
    assert "changed while it was published" in json.loads(out.read_text())["error"]
    assert copies >= 2
    assert tree_state(dest) == before


# --- the directory destination, end to end ------------------------------------------


@pytest.mark.slow
def test_two_bundles_merge_and_install_from_a_web_server(
    bundles: Bundles, tmp_path: Path, http_server: HttpServerFactory
) -> None:
    dest = tmp_path / "dest"
    # The post-publish gate runs against file://DEST/simple/ (real pip).
    assert _publish(str(bundles.a), str(dest)) == 0
    assert _publish(str(bundles.b), f"file://{dest}") == 0
    root = json.loads((dest / "simple" / "index.json").read_text())
    assert [p["name"] for p in root["projects"]] == ["helper", "old", "other", "webby"]
    old = json.loads((dest / "simple" / "old" / "index.json").read_text())["files"]
    assert [f["yanked"] for f in old] == ["broken build"]  # PEP 592: kept
    helper = json.loads((dest / "simple" / "helper" / "index.json").read_text())["files"]
    assert [f["filename"] for f in helper] == [HELPER_WHEEL]
    assert helper[0]["requires-python"] == ">=3.8" and helper[0]["core-metadata"]
    url = http_server(dest) + "simple/"
    assert _install(url, bundles.a / "requirements.txt", tmp_path / "va") == {
        "webby": "1.0",
        "helper": "2.0",
    }
    assert _install(url, bundles.b / "requirements.txt", tmp_path / "vb") == {
        "other": "1.0",
        "helper": "2.0",
        "old": "1.0",
    }
    for bundle in (bundles.a, bundles.b):
        assert run(["verify", "--index-url", url, str(bundle), "--quiet"]) == 0


@pytest.mark.slow
def test_autoindex_layout_serves_both_bundles_from_directory_listings(
    bundles: Bundles, tmp_path: Path, http_server: HttpServerFactory
) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    url = http_server(dest)
    for bundle in (bundles.a, bundles.b):
        argv = [str(bundle), str(dest), "--layout", "autoindex", "--index-url", url]
        assert _publish(*argv) == 0
    assert (dest / "helper" / HELPER_WHEEL).is_file()
    assert not (dest / "simple").exists() and not (dest / "files").exists()
    assert sorted(p.name for p in dest.iterdir() if p.is_dir()) == [
        "helper",
        "old",
        "other",
        "webby",
    ]
    assert _install(url, bundles.a / "requirements.txt", tmp_path / "va")["webby"] == "1.0"
    assert _install(url, bundles.b / "requirements.txt", tmp_path / "vb")["other"] == "1.0"


def test_autoindex_without_a_url_to_check_is_a_usage_error(
    bundles: Bundles, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert _publish(str(bundles.a), str(dest), "--layout", "autoindex") == 2
    assert not dest.exists()
    assert _publish(str(bundles.a), str(dest), "--layout", "autoindex", "--no-check") == 0
    assert (dest / "webby" / "webby-1.0-py3-none-any.whl").is_file()


def test_an_unknown_destination_scheme_is_a_usage_error(bundles: Bundles) -> None:
    assert _publish(str(bundles.a), "ftp://example.invalid/pypi") == 2


# --- the post-publish gate ------------------------------------------------------------


def test_publish_fails_when_the_index_it_checks_lacks_a_file(
    bundles: Bundles, tmp_path: Path
) -> None:
    dest, elsewhere = tmp_path / "dest", tmp_path / "elsewhere"
    assert _publish(str(bundles.b), str(elsewhere), "--no-check") == 0
    # Published to dest, checked against an index that has only bundle B.
    out = tmp_path / "out.json"
    url = (elsewhere / "simple").as_uri() + "/"
    assert _publish(str(bundles.a), str(dest), "--index-url", url, json_out=out) == 1
    assert any(p.startswith("webby") for p in _problems(out))


# --- faults ---------------------------------------------------------------------------


def _consistent(dest: Path) -> None:
    """Every page lists only files that are there, with their bytes."""
    for page in (dest / "simple").glob("*/index.json"):
        for f in json.loads(page.read_text())["files"]:
            path = dest / "files" / f["filename"]
            assert path.is_file(), f"{page} lists {f['filename']}, which is missing"
            assert hashlib.sha256(path.read_bytes()).hexdigest() == f["hashes"]["sha256"]
    root = json.loads((dest / "simple" / "index.json").read_text())
    for p in root["projects"]:
        assert (dest / "simple" / p["name"] / "index.html").is_file()


def _publisher(bundle: Path, dest: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bundler", "publish", str(bundle), str(dest), "--no-check", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )


def test_kill_9_mid_publish_leaves_dest_consistent_and_a_rerun_completes(
    bundles: Bundles, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    assert _publish(str(bundles.a), str(dest), "--no-check") == 0
    proc = _publisher(bundles.many, dest)
    deadline = time.monotonic() + 60
    while not any(p.name.startswith(("part", ".part")) for p in (dest / "files").iterdir()):
        assert proc.poll() is None, "the publisher ended before it was killed"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.stderr is not None
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    _consistent(dest)
    root = json.loads((dest / "simple" / "index.json").read_text())
    assert len(root["projects"]) < 2 + len(MANY), "the kill came after the last page"
    url = (dest / "simple").as_uri() + "/"
    assert run(["verify", "--index-url", url, str(bundles.a), "--no-install", "--quiet"]) == 0
    assert _publish(str(bundles.many), str(dest), "--no-check") == 0
    _consistent(dest)
    assert not [p for p in (dest / "files").iterdir() if p.name.endswith(".tmp")]
    for bundle in (bundles.a, bundles.many):
        assert run(["verify", "--index-url", url, str(bundle), "--no-install", "--quiet"]) == 0


def test_two_concurrent_publishers_take_turns_and_both_end_up_listed(
    bundles: Bundles, tmp_path: Path
) -> None:
    dest = tmp_path / "dest"
    with DirectoryDestination(dest).lock(wait=0):
        # A third publisher holds DEST: the two wait, writing nothing.
        procs = [_publisher(bundle, dest) for bundle in (bundles.many, bundles.b)]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            assert all(proc.poll() is None for proc in procs)
            assert not (dest / "files").exists() and not (dest / "simple").exists()
            time.sleep(0.05)
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    _consistent(dest)
    url = (dest / "simple").as_uri() + "/"
    for bundle in (bundles.many, bundles.b):
        assert run(["verify", "--index-url", url, str(bundle), "--no-install", "--quiet"]) == 0


# --- an upload API, through the command line ---------------------------------------


@pytest.mark.slow
def test_publish_to_pypiserver_checks_it_with_its_credentials(
    bundles: Bundles, tmp_path: Path
) -> None:
    from tests.support.servers import PypiServer

    with PypiServer(tmp_path / "pypiserver") as server:
        # Downloads need the credentials too: the gate and its pip get them
        # from the upload URL, through the client.
        out = tmp_path / "out.json"
        for bundle in (bundles.a, bundles.b):
            assert _publish(str(bundle), server.authed_url, json_out=out) == 0, _problems(out)
        doc = json.loads(out.read_text())
        assert doc["publish"]["skipped"] == [HELPER_WHEEL]
        assert "s3cret" not in out.read_text()
        reality = [r for r in doc["check"]["results"] if r["check"] == "reality"]
        assert reality and all(r["status"] == "passed" for r in reality)
        stored = server.packages / HELPER_WHEEL
        before = stored.read_bytes()
        assert _publish(str(bundles.c), server.authed_url, json_out=out) == 1
        assert HELPER_WHEEL in json.loads(out.read_text())["error"]
        assert stored.read_bytes() == before


# --- what publish refuses before writing anything -------------------------------------


def test_a_dir2pi_tree_with_files_beside_its_pages_is_refused_not_broken(
    bundles: Bundles, tmp_path: Path
) -> None:
    # pip2pi/dir2pi: simple/<project>/index.html links the file beside it.
    dest = tmp_path / "dp"
    page_dir = dest / "simple" / "helper"
    page_dir.mkdir(parents=True)
    wheel = page_dir / "helper-1.0-py3-none-any.whl"
    wheel.write_bytes(b"an older helper")
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    (page_dir / "index.html").write_text(
        f'<html><body><a href="{wheel.name}#sha256={digest}">{wheel.name}</a></body></html>\n'
    )
    before = _tree(dest)
    out = tmp_path / "out.json"
    assert _publish(str(bundles.a), str(dest), "--no-check", json_out=out) == 1
    error = json.loads(out.read_text())["error"]
    assert str(page_dir / "index.html") in error and "not a bundler-layout index" in error
    assert _tree(dest) == before


@pytest.mark.parametrize("dest", ["", "   ", "files", "."])
def test_dest_empty_or_inside_the_bundle_is_a_usage_error(
    bundles: Bundles, tmp_path: Path, dest: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # where an empty DEST used to publish to
    bundle = _copy(bundles.a, tmp_path)
    before = _tree(bundle)
    out = tmp_path / "out.json"
    target = str(bundle / dest) if dest.strip() else dest
    assert _publish(str(bundle), target, "--no-check", json_out=out) == 2
    error = json.loads(out.read_text())["error"]
    assert ("DEST is empty" if not dest.strip() else "is inside the bundle") in error
    assert _tree(bundle) == before


def test_a_bundle_inside_dest_is_published_beside_it(bundles: Bundles, tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    dest.mkdir()
    bundle = _copy(bundles.a, dest)
    assert _publish(str(bundle), str(dest), "--no-check") == 0
    assert (dest / "files" / HELPER_WHEEL).is_file()


@pytest.mark.parametrize(
    "read_url", ["ftp://x/", "simple/", "http:///simple/", "http://127.0.0.1:99999/"]
)
def test_an_unusable_read_url_is_refused_before_dest_is_written(
    bundles: Bundles, tmp_path: Path, read_url: str
) -> None:
    dest = tmp_path / "dest"
    assert _publish(str(bundles.a), str(dest), "--index-url", read_url) == 2
    assert not dest.exists()
