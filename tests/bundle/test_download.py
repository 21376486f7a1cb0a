"""The downloader's own logic, over a fake client: skip what is present,
bounded parallelism, every failure collected, unsafe names refused, prune."""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import threading
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from bundler.bundle.download import (
    TASK_ALL,
    AdaptivePool,
    DownloadFailed,
    DownloadItem,
    DownloadResult,
    download_all,
    prune,
)
from bundler.cli.console import ConsoleReporter
from bundler.cli.main import run
from bundler.errors import HashMismatch, MultipleErrors, NotFound, UsageError
from bundler.models import BundleArtifact, DistKind, Manifest
from bundler.reporting import NULL_REPORTER, Reporter
from tests.support import DistSpec, IndexServerFactory, Reply
from tests.support.clocks import StepClocks


class FakeClient:
    """fetch_to_file over a local directory: ``url`` is ``fake://<name>``."""

    def __init__(self, source: Path) -> None:
        self.source = source
        self.calls: list[str] = []
        self.missing: set[str] = set()
        self.lie_about_hash = False
        self.barrier: threading.Barrier | None = None
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def fetch_to_file(
        self,
        url: str,
        dest: Path,
        *,
        sha256: str | None,
        size: int | None,
        progress: Callable[[int], None] | None,
    ) -> tuple[str, int]:
        with self._lock:
            self.calls.append(url)
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.barrier is not None:
                self.barrier.wait(timeout=10)
            name = url.rsplit("/", 1)[-1]
            if name in self.missing:
                raise NotFound("https://example.invalid/" + name, "404 Not Found", status=404)
            data = (self.source / name).read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if self.lie_about_hash:
                digest = "0" * 64
            elif sha256 is not None and digest != sha256:
                raise HashMismatch(name, sha256, digest)
            tmp = dest.with_name(f".{dest.name}.x.part")
            tmp.write_bytes(data)
            if progress is not None:
                for start in range(0, len(data), 7):
                    progress(len(data[start : start + 7]))
            os.replace(tmp, dest)
            return digest, len(data)
        finally:
            with self._lock:
                self.active -= 1


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []
        self.amounts: dict[str, int] = {}
        self._lock = threading.Lock()

    def task_start(self, key: str, description: str, total: int | None = None) -> None:
        with self._lock:
            self.events.append(("start", key, total))

    def task_advance(self, key: str, amount: int) -> None:
        with self._lock:
            self.events.append(("advance", key, amount))
            self.amounts[key] = self.amounts.get(key, 0) + amount

    def task_done(self, key: str, ok: bool = True) -> None:
        with self._lock:
            self.events.append(("done", key, ok))

    def advanced(self, key: str) -> int:
        return self.amounts.get(key, 0)


def _source(tmp_path: Path, names: list[str]) -> tuple[Path, list[DownloadItem]]:
    src = tmp_path / "src"
    src.mkdir()
    items = []
    for i, name in enumerate(names):
        data = f"{name} content {i}\n".encode() * (i + 1)
        (src / name).write_bytes(data)
        digest = hashlib.sha256(data).hexdigest()
        items.append(DownloadItem(name, f"fake://host/{name}", digest, len(data)))
    return src, items


NAMES = [f"pkg{i}-1.0-py3-none-any.whl" for i in range(6)]


def test_fetches_missing_and_skips_present(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES)
    files = tmp_path / "files"
    files.mkdir()
    (files / NAMES[0]).write_bytes((src / NAMES[0]).read_bytes())  # already right
    (files / NAMES[1]).write_bytes(b"stale bytes")  # wrong hash: fetched again
    client = FakeClient(src)
    results = download_all(items, files, client, NULL_REPORTER, workers=3)
    assert [r.filename for r in results] == NAMES
    assert [r.fetched for r in results] == [False] + [True] * 5
    assert sorted(client.calls) == sorted(f"fake://host/{n}" for n in NAMES[1:])
    for item, result in zip(items, results, strict=True):
        assert (files / item.filename).read_bytes() == (src / item.filename).read_bytes()
        assert (result.sha256, result.size) == (item.sha256, item.size)
        assert result.path == files / item.filename
    # A second run fetches nothing.
    again = download_all(items, files, client, NULL_REPORTER)
    assert len(client.calls) == 5
    assert not any(r.fetched for r in again)


def test_present_file_with_wrong_size_is_fetched(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES[:1])
    files = tmp_path / "files"
    files.mkdir()
    (files / NAMES[0]).write_bytes((src / NAMES[0]).read_bytes())
    wrong_size = DownloadItem(items[0].filename, items[0].url, items[0].sha256, 1)
    client = FakeClient(src)
    with pytest.raises(MultipleErrors):
        # The fake serves the real bytes; the size check belongs to the client.
        download_all([wrong_size], files, client, NULL_REPORTER)
    assert client.calls == [items[0].url]


def test_parallelism_is_bounded(tmp_path: Path) -> None:
    names = [f"p{i}-1.0.tar.gz" for i in range(12)]
    src, items = _source(tmp_path, names)
    client = FakeClient(src)
    # Three calls must be in flight at once for any of them to proceed.
    client.barrier = threading.Barrier(3)
    download_all(items, tmp_path / "files", client, NULL_REPORTER, workers=3)
    assert client.max_active == 3
    assert len(client.calls) == 12


def test_one_worker_is_sequential_biggest_first(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES)  # each item bigger than the one before
    client = FakeClient(src)
    results = download_all(items, tmp_path / "files", client, NULL_REPORTER, workers=1)
    assert client.max_active == 1
    # The biggest file starts first, so the last to start is a small one...
    assert client.calls == [i.url for i in reversed(items)]
    # ...and the results still come in the order asked for.
    assert [r.filename for r in results] == NAMES


def test_workers_must_be_positive(tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        download_all([], tmp_path, FakeClient(tmp_path), NULL_REPORTER, workers=0)


def test_every_failure_is_collected(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES)
    files = tmp_path / "files"
    client = FakeClient(src)
    client.missing = {NAMES[1], NAMES[4]}
    (src / NAMES[2]).write_bytes(b"tampered")  # the index serves other bytes
    unsafe = DownloadItem("../escape-1.0.tar.gz", "fake://host/x", "1" * 64, None)
    with pytest.raises(MultipleErrors) as info:
        download_all([*items, unsafe], files, client, NULL_REPORTER, workers=2)
    errors = info.value.errors
    assert all(isinstance(e, DownloadFailed) for e in errors)
    failed = {e.filename: e for e in errors if isinstance(e, DownloadFailed)}
    assert sorted(failed) == sorted([NAMES[1], NAMES[2], NAMES[4], unsafe.filename])
    assert "404" in failed[NAMES[1]].reason
    assert isinstance(failed[NAMES[2]].cause, HashMismatch)
    assert "unsafe" in failed[unsafe.filename].reason
    text = str(info.value)
    for name in failed:
        assert name in text
    # Every safe item was attempted; the ones that worked stay.
    assert len(client.calls) == len(NAMES)
    assert sorted(p.name for p in files.iterdir()) == sorted([NAMES[0], NAMES[3], NAMES[5]])
    assert not (tmp_path / "escape-1.0.tar.gz").exists()
    assert info.value.exit_code == 2  # a refused name is a bad input


@pytest.mark.parametrize(
    "name",
    [
        "../x-1.0.tar.gz",
        "a/b-1.0.tar.gz",
        "a\\b-1.0.tar.gz",
        "/abs-1.0.tar.gz",
        "..",
        "",
        ".hidden-1.0.tar.gz",
        "x-1.0-py3-none-any.whl.metadata",
        "C:x-1.0.tar.gz",
        "evil\nx-1.0.tar.gz",
    ],
)
def test_unsafe_names_are_refused(tmp_path: Path, name: str) -> None:
    client = FakeClient(tmp_path)
    item = DownloadItem(name, "fake://host/x", "1" * 64, None)
    with pytest.raises(MultipleErrors) as info:
        download_all([item], tmp_path / "files", client, NULL_REPORTER)
    assert client.calls == []
    assert isinstance(info.value.errors[0], DownloadFailed)
    assert "unsafe" in info.value.errors[0].reason
    assert "\n" not in str(info.value.errors[0])  # control characters shown escaped


def test_bad_digest_and_conflicting_duplicates(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES[:2])
    client = FakeClient(src)
    bad_hex = DownloadItem("z-1.0.tar.gz", "fake://host/z", "ABC", None)
    conflict = DownloadItem(items[0].filename, items[0].url, "f" * 64, None)
    same = items[1]
    with pytest.raises(MultipleErrors) as info:
        download_all([*items, bad_hex, conflict, same], tmp_path / "f", client, NULL_REPORTER)
    reasons = {e.filename: e.reason for e in info.value.errors if isinstance(e, DownloadFailed)}
    assert "sha256" in reasons["z-1.0.tar.gz"]
    assert "different hashes" in reasons[items[0].filename]
    assert sorted(client.calls) == sorted(i.url for i in items)  # the duplicate once


def test_client_returning_wrong_hash_leaves_nothing(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES[:1])
    secret = DownloadItem(items[0].filename, "https://user:s3cret@host/x", items[0].sha256, None)
    client = FakeClient(src)
    client.lie_about_hash = True
    files = tmp_path / "files"
    with pytest.raises(MultipleErrors) as info:
        download_all([secret], files, client, NULL_REPORTER)
    assert "s3cret" not in str(info.value)
    assert list(files.iterdir()) == []


def test_progress_reported(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES[:3])
    files = tmp_path / "files"
    files.mkdir()
    (files / NAMES[0]).write_bytes((src / NAMES[0]).read_bytes())
    reporter = RecordingReporter()
    download_all(items, files, FakeClient(src), reporter, workers=2)
    total = sum(i.size or 0 for i in items)
    starts = {k: t for kind, k, t in reporter.events if kind == "start"}
    done = {k: ok for kind, k, ok in reporter.events if kind == "done"}
    assert starts[TASK_ALL] == total
    assert reporter.advanced(TASK_ALL) == total
    for item in items[1:]:
        key = f"{TASK_ALL}:{item.filename}"
        assert starts[key] == item.size
        assert reporter.advanced(key) == item.size
        assert done[key] is True
    assert f"{TASK_ALL}:{NAMES[0]}" not in starts  # present: nothing to show
    assert done[TASK_ALL] is True
    assert reporter.events[-1] == ("done", TASK_ALL, True)


def test_progress_marks_failures(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES[:2])
    client = FakeClient(src)
    client.missing = {NAMES[1]}
    reporter = RecordingReporter()
    with pytest.raises(MultipleErrors):
        download_all(items, tmp_path / "files", client, reporter)
    done = {k: ok for kind, k, ok in reporter.events if kind == "done"}
    assert done[f"{TASK_ALL}:{NAMES[0]}"] is True
    assert done[f"{TASK_ALL}:{NAMES[1]}"] is False
    assert done[TASK_ALL] is False


# --- prune ---------------------------------------------------------------------------


def _manifest(*filenames: str) -> Manifest:
    return Manifest(
        artifacts=tuple(
            BundleArtifact(
                filename=f,
                project=NormalizedName(f.split("-")[0]),
                version="1.0",
                sha256="a" * 64,
                size=1,
                kind=DistKind.WHEEL if f.endswith(".whl") else DistKind.SDIST,
            )
            for f in filenames
        ),
        packages=(),
        targets=(),
    )


def test_prune_removes_only_what_the_previous_bundle_held(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    names = [
        "a-1.0-py3-none-any.whl",
        "a-1.0-py3-none-any.whl.metadata",
        "b-1.0-py3-none-any.whl",
        "b-1.0-py3-none-any.whl.metadata",
        "c-1.0.tar.gz",
        "old-1.0.tar.gz",
        "notes.txt",
        "stray-1.0-py3-none-any.whl.metadata",
        ".c-1.0.tar.gz.k3j2.part",
        ".bundle.json.abcd.tmp",
    ]
    for n in names:
        (files / n).write_text(n)
    (files / "subdir").mkdir()
    previous = _manifest("a-1.0-py3-none-any.whl", "b-1.0-py3-none-any.whl", "old-1.0.tar.gz")
    unknown = prune(files, {"a-1.0-py3-none-any.whl", "c-1.0.tar.gz"}, previous)
    assert unknown == ["notes.txt", "stray-1.0-py3-none-any.whl.metadata", "subdir"]
    assert sorted(p.name for p in files.iterdir()) == [
        "a-1.0-py3-none-any.whl",
        "a-1.0-py3-none-any.whl.metadata",
        "c-1.0.tar.gz",
        "notes.txt",
        "stray-1.0-py3-none-any.whl.metadata",
        "subdir",
    ]


def test_a_killed_runs_part_files_are_removed_by_the_next_run(tmp_path: Path) -> None:
    # A run killed mid-download left its temp files; the next run removes
    # them even when it fails, and they never count as files of the bundle.
    src, items = _source(tmp_path, NAMES[:2])
    files = tmp_path / "files"
    files.mkdir()
    stale = [f".{NAMES[0]}.k3j2abcd.part", f".{NAMES[1]}.metadata.x9y8.tmp"]
    for name in stale:
        (files / name).write_bytes(b"half a file")
    (files / ".keep.part").mkdir()  # not a file: not ours to remove
    client = FakeClient(src)
    client.missing = {NAMES[1]}
    with pytest.raises(MultipleErrors):
        download_all(items, files, client, NULL_REPORTER)
    assert sorted(p.name for p in files.iterdir()) == [".keep.part", NAMES[0]]


def test_prune_without_previous_manifest_removes_nothing_known(tmp_path: Path) -> None:
    files = tmp_path / "files"
    files.mkdir()
    for n in ("a-1.0.tar.gz", "b-1.0.tar.gz"):
        (files / n).write_text(n)
    assert prune(files, {"a-1.0.tar.gz"}, None) == ["b-1.0.tar.gz"]
    assert (files / "b-1.0.tar.gz").exists()
    assert prune(tmp_path / "absent", set(), None) == []


def _wheel(name: str, version: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{name}/__init__.py", b"")
        zf.writestr(
            f"{name}-{version}.dist-info/METADATA",
            f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
        )
    return buf.getvalue()


def test_wheel_metadata_is_read_as_each_file_arrives(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    blobs = {
        "good-1.0-py3-none-any.whl": _wheel("good", "1.0"),
        "broken-1.0-py3-none-any.whl": b"not a zip",
        "plain-1.0.tar.gz": b"an sdist",
    }
    items = []
    for name, data in blobs.items():
        (src / name).write_bytes(data)
        items.append(DownloadItem(name, f"fake://host/{name}", hashlib.sha256(data).hexdigest()))
    files = tmp_path / "files"
    results = download_all(items, files, FakeClient(src), NULL_REPORTER, read_metadata=True)
    metadata = {r.filename: r.metadata for r in results}
    good = metadata["good-1.0-py3-none-any.whl"]
    assert good is not None and b"Name: good" in good
    # Unreadable wheels and sdists carry none: the index writer reports the first.
    assert metadata["broken-1.0-py3-none-any.whl"] is None
    assert metadata["plain-1.0.tar.gz"] is None
    # Files already in place get theirs too.
    again = download_all(items, files, FakeClient(src), NULL_REPORTER, read_metadata=True)
    assert {r.filename: r.metadata for r in again} == metadata
    assert all(
        r.metadata is None for r in download_all(items, files, FakeClient(src), NULL_REPORTER)
    )


def test_each_file_is_handed_over_as_soon_as_it_is_in_place(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES)
    files = tmp_path / "files"
    seen: dict[str, tuple[bool, str]] = {}

    def ready(result: DownloadResult) -> None:
        # In place, from the thread that fetched it.
        seen[result.filename] = (result.path.is_file(), threading.current_thread().name)

    results = download_all(items, files, FakeClient(src), NULL_REPORTER, on_ready=ready)
    assert set(seen) == {r.filename for r in results} == set(NAMES)
    assert all(present and thread == "download" for present, thread in seen.values())

    def refuse(result: DownloadResult) -> None:
        if result.filename == NAMES[0]:
            raise OSError("disk full")

    with pytest.raises(MultipleErrors) as info:
        download_all(items, tmp_path / "other", FakeClient(src), NULL_REPORTER, on_ready=refuse)
    assert [getattr(f, "filename", None) for f in info.value.errors] == [NAMES[0]]


def test_a_file_without_a_url_is_an_error(tmp_path: Path) -> None:
    src, items = _source(tmp_path, NAMES[:1])
    nowhere = [dataclasses.replace(items[0], url="")]
    with pytest.raises(MultipleErrors, match="no URL"):
        download_all(nowhere, tmp_path / "other", FakeClient(src), NULL_REPORTER)


@pytest.mark.parametrize(("busy", "expected"), [(True, 2), (False, 6)])
def test_adaptive_pool_grows_only_while_the_cpu_is_idle(busy: bool, expected: int) -> None:
    clocks = StepClocks(cores=2 if busy else 0)  # all of the 2 CPUs, or none
    pool: AdaptivePool[int] = AdaptivePool(6, cpus=2, wall_clock=clocks.wall, cpu_clock=clocks.cpu)
    release = threading.Event()
    running: list[int] = []
    lock = threading.Lock()

    def job(n: int) -> int:
        with lock:
            running.append(n)
        release.wait(timeout=10)
        return n * n

    for n in range(10):
        pool.submit(f"job{n}", functools.partial(job, n))
    done: dict[str, int | BaseException] = {}
    runner = threading.Thread(target=lambda: done.update(pool.run()))
    runner.start()
    deadline = time.monotonic() + 10
    if busy:
        # A dozen looks, each of which would add threads if it were wrong.
        while time.monotonic() < deadline and (len(running) < 2 or clocks.now < 12):
            time.sleep(0.01)
    else:
        while time.monotonic() < deadline and len(running) < expected:
            time.sleep(0.01)
    started = len(running)
    release.set()
    runner.join(timeout=10)
    assert started == expected
    assert pool.peak == expected
    assert done == {f"job{n}": n * n for n in range(10)}


def test_adaptive_pool_hands_back_what_a_job_raised() -> None:
    pool: AdaptivePool[int] = AdaptivePool(3, cpus=1)

    def fails() -> int:
        raise OSError("disk full")

    pool.submit("ok", lambda: 1)
    pool.submit("bad", fails)
    outcomes = pool.run()
    assert outcomes["ok"] == 1
    assert isinstance(outcomes["bad"], OSError)
    assert AdaptivePool[int](3).run() == {}


def test_adaptive_pool_starts_no_job_after_an_interrupt() -> None:
    pool: AdaptivePool[int] = AdaptivePool(2, cpus=2)
    started: list[int] = []
    release = threading.Event()

    def job(n: int) -> int:
        started.append(n)
        release.wait(timeout=10)
        return n

    for n in range(10):
        pool.submit(f"job{n}", functools.partial(job, n))
    calls = 0

    def interrupting_look() -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt

    pool._look = interrupting_look  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        pool.run()
    release.set()
    time.sleep(0.2)  # the two running jobs end; nothing else may start
    assert sorted(started) == [0, 1]


# --- the download command, end to end --------------------------------------------------


def test_download_tries_a_failing_file_within_one_budget_and_says_so(
    tmp_path: Path,
    index_server: IndexServerFactory,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # From a requirements.txt lock each file is fetched ahead as soon as
    # its page is in, then downloaded: one budget of attempts in all.
    monkeypatch.delenv("FORCE_COLOR", raising=False)  # stderr: a log
    server = index_server([DistSpec("solo", "1.0", sdist=False)])
    req = tmp_path / "requirements.in"
    req.write_text("solo\n")
    lock = tmp_path / "requirements.txt"
    cache = ["--cache-dir", str(tmp_path / "cache")]
    assert run(["lock", str(req), "-o", str(lock), "-i", str(server.url), *cache, "--quiet"]) == 0
    wheel = server.file_path("solo-1.0-py3-none-any.whl")
    server.config.overrides[wheel] = Reply(503, {"Retry-After": "0"}, b"busy")
    capsys.readouterr()
    bundle = tmp_path / "pypi"
    download = ["download", str(lock), "-o", str(bundle), "-i", str(server.url), *cache]
    assert run(download) == 1
    assert server.hits(wheel) == 5  # the default budget: 5 requests, not 10
    err = capsys.readouterr().err
    host = f"127.0.0.1:{server.port}"
    retries = [line for line in err.splitlines() if line.startswith("retrying")]
    assert retries == [f"retrying in 0 s: 503 from {host} (attempt {n} of 5)" for n in range(2, 6)]
    assert "HTTP 503" in err and "(after 5 attempts)" in err


def test_a_retry_line_on_a_terminal_keeps_its_brackets() -> None:
    from rich.console import Console

    out = io.StringIO()
    reporter = ConsoleReporter(quiet=False, console=Console(file=out, width=200))
    reporter.plain = False
    reporter.retry("[::1]:8080", "connection dropped after 1048576 bytes", 12.3, 3, 5)
    reporter.retry("[::1]:8080", "503", 0.37, 4, 5)
    assert out.getvalue().splitlines() == [
        "retrying in 12 s: connection dropped after 1048576 bytes from [::1]:8080 (attempt 3 of 5)",
        "retrying in 0.4 s: 503 from [::1]:8080 (attempt 4 of 5)",
    ]
    quiet = ConsoleReporter(quiet=True, console=Console(file=out, width=200))
    quiet.retry("example.org", "503", 1.0, 2, 5)
    assert "example.org" not in out.getvalue()
