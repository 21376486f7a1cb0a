"""An update of a bundle is all or nothing: a wrong hash, a full disk or a
kill -9 leaves it byte-identical and verifying; readers never see a page
that links a missing file; a bundle is written where fcntl does not exist."""

from __future__ import annotations

import html.parser
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from bundler import fsutil
from bundler.cli.main import run
from bundler.errors import BundleLocked, BundlerError, UsageError
from tests.support import DistSpec, IndexServer, IndexServerFactory, Reply

SPECS = [
    DistSpec("app", "1.0", requires=("dep",)),
    DistSpec("app", "2.0", requires=("dep", "extra")),
    DistSpec("dep", "1.0"),
    DistSpec("extra", "1.0"),
]
EXTRA_WHEEL = "extra-1.0-py3-none-any.whl"
OLD_WHEEL = "app-1.0-py3-none-any.whl"
NEW_WHEEL = "app-2.0-py3-none-any.whl"


def bundle_cmd(*args: str) -> int:
    return run([*args, "--quiet"])


def cli(*args: str) -> list[str]:
    """The ``bundle`` command in a process of its own."""
    return [sys.executable, "-m", "bundler", *args]


def lock_for(tmp_path: Path, server: IndexServer, pin: str, name: str) -> Path:
    """A PEP 751 lock of ``pin`` (it names every file's URL)."""
    req = tmp_path / f"{name}.in"
    req.write_text(pin + "\n")
    lock = tmp_path / f"pylock.{name}.toml"
    assert bundle_cmd("lock", str(req), "-o", str(lock), "-i", server.url) == 0
    return lock


def wrong_hash(lock: Path, filename: str) -> Path:
    """A copy of ``lock`` whose sha256 of ``filename`` is wrong."""
    text = lock.read_text()
    at = text.index(f'name = "{filename}"')
    start = text.index('sha256 = "', at) + len('sha256 = "')
    bad = lock.with_name(lock.name.replace(".toml", "-bad.toml"))
    bad.write_text(text[:start] + "0" * 64 + text[start + 64 :])
    return bad


def tree(root: Path) -> dict[str, tuple[str, bytes, int]]:
    """Every entry under ``root``: its kind, bytes (or link target) and mode."""
    out: dict[str, tuple[str, bytes, int]] = {}
    for path in sorted(root.rglob("*")):
        mode = path.lstat().st_mode & 0o7777
        rel = str(path.relative_to(root))
        if path.is_symlink():
            out[rel] = ("link", os.readlink(path).encode(), mode)
        elif path.is_dir():
            out[rel] = ("dir", b"", mode)
        else:
            out[rel] = ("file", path.read_bytes(), mode)
    return out


def squeezed(text: str) -> str:
    """``text`` without whitespace: a message as written, however a
    console wrapped it."""
    return "".join(text.split())


def beside(root: Path) -> set[str]:
    """What the updates of ``root`` keep next to it (its lock file aside)."""
    return {
        p.name
        for p in root.parent.iterdir()
        if p.name.startswith(f".{root.name}.") and p.name != f".{root.name}.lock"
    }


@pytest.fixture
def server(index_server: IndexServerFactory) -> IndexServer:
    return index_server(SPECS)


@pytest.fixture
def old_bundle(tmp_path: Path, server: IndexServer) -> Path:
    """A verified bundle of app 1.0, to be updated to app 2.0."""
    bundle = tmp_path / "pypi"
    assert (
        bundle_cmd(
            "download", str(lock_for(tmp_path, server, "app==1.0", "old")), "-o", str(bundle)
        )
        == 0
    )
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0
    return bundle


@pytest.mark.parametrize("fault", ["wrong hash", "not found"])
def test_a_failure_mid_update_leaves_the_bundle_byte_identical(
    tmp_path: Path, server: IndexServer, old_bundle: Path, fault: str
) -> None:
    before = tree(old_bundle)
    new_lock = lock_for(tmp_path, server, "app==2.0", "new")
    # app 2.0 and dep arrive; extra's hash is wrong, or the index lost it.
    if fault == "wrong hash":
        failing = wrong_hash(new_lock, EXTRA_WHEEL)
    else:
        failing = new_lock
        server.config.overrides[server.file_path(EXTRA_WHEEL)] = Reply(404, body=b"gone")
    assert bundle_cmd("download", str(failing), "-o", str(old_bundle)) == 1
    server.config.overrides.clear()
    assert server.hits(server.file_path(NEW_WHEEL)) == 1
    assert tree(old_bundle) == before
    assert beside(old_bundle) == set()
    assert bundle_cmd("verify", str(old_bundle), "--no-install") == 0
    # The right lock: the whole new bundle, nothing of the old one left over.
    assert bundle_cmd("download", str(new_lock), "-o", str(old_bundle)) == 0
    assert bundle_cmd("verify", str(old_bundle), "--no-install") == 0
    files = {p.name for p in (old_bundle / "files").iterdir()}
    assert NEW_WHEEL in files and EXTRA_WHEEL in files and OLD_WHEEL not in files
    assert beside(old_bundle) == set()


def test_a_build_whose_gate_fails_leaves_the_bundle_byte_identical(
    tmp_path: Path,
    server: IndexServer,
    old_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from bundler.gate import verify as gate

    before = tree(old_bundle)
    req = tmp_path / "new.in"
    req.write_text("app==2.0\n")
    real_verify = gate.verify
    checked: list[Path] = []

    def verify_damaged(bundle_dir: Path, *args: Any, **kwargs: Any) -> Any:
        # The new bundle loses a file before the gate sees it.
        checked.append(bundle_dir)
        (bundle_dir / "files" / EXTRA_WHEEL).unlink()
        return real_verify(bundle_dir, *args, **kwargs)

    monkeypatch.setattr(gate, "verify", verify_damaged)
    build = ["build", str(req), "-o", str(old_bundle), "-i", server.url, "--no-install"]
    capsys.readouterr()
    assert run(build) == 1
    err = squeezed(capsys.readouterr().err)
    assert squeezed(f"{old_bundle} is unchanged: the new bundle failed the gate") in err
    assert EXTRA_WHEEL in err
    assert checked and checked[0] != old_bundle
    assert tree(old_bundle) == before
    assert beside(old_bundle) == set()
    monkeypatch.setattr(gate, "verify", real_verify)
    assert run([*build, "--quiet"]) == 0
    assert (old_bundle / "files" / EXTRA_WHEEL).is_file()
    assert not (old_bundle / "files" / OLD_WHEEL).exists()


def test_an_add_whose_dependencies_fail_leaves_the_bundle_byte_identical(
    tmp_path: Path, server: IndexServer, old_bundle: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from tests.support import build_wheel

    before = tree(old_bundle)
    private = build_wheel(
        DistSpec("acme-tool", "1.0", requires=("extra", "app>=2")), "py3-none-any", tmp_path
    )
    # The file is fine; what it needs conflicts with the bundle's own pin,
    # and the message names the bundle's manifest, not the copy's.
    capsys.readouterr()
    assert run(["add", str(old_bundle), str(private), "-i", server.url]) == 1
    err = squeezed(capsys.readouterr().err)
    assert squeezed("acme-tool==1.0 depends on app>=2") in err
    assert f"{old_bundle}/bundle.json" in err and ".pypi.new-" not in err
    assert tree(old_bundle) == before
    assert beside(old_bundle) == set()
    assert bundle_cmd("verify", str(old_bundle), "--no-install") == 0
    # Without dependencies it goes in, alone.
    assert bundle_cmd("add", str(old_bundle), str(private), "--no-deps") == 0
    assert (old_bundle / "files" / private.name).is_file()
    assert not (old_bundle / "files" / EXTRA_WHEEL).exists()


def test_a_directory_holding_something_else_is_not_made_a_bundle(
    tmp_path: Path, server: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "setup.py").write_text("")
    lock = lock_for(tmp_path, server, "app==2.0", "new")
    capsys.readouterr()
    assert bundle_cmd("download", str(lock), "-o", str(project)) == 2
    assert "is not a bundle and not empty" in capsys.readouterr().err
    assert [p.name for p in project.iterdir()] == ["setup.py"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert bundle_cmd("download", str(lock), "-o", str(empty)) == 0


# --- readers during an update --------------------------------------------------


class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.hrefs += [v for k, v in attrs if tag == "a" and k == "href" and v]


def dangling(root: Path) -> list[str]:
    """Links of the bundle's pages (HTML and JSON) and manifest to files it
    does not hold, as a reader of the directory sees them."""
    missing: list[str] = []
    simple = root / "simple"
    for page_dir in sorted(simple.iterdir()) if simple.is_dir() else []:
        if not page_dir.is_dir():
            continue
        links = _Links()
        with open(page_dir / "index.html", encoding="utf-8") as fh:
            links.feed(fh.read())
        with open(page_dir / "index.json", encoding="utf-8") as fh:
            urls = [f["url"] for f in json.load(fh)["files"]]
        for href in links.hrefs + urls:
            target = (page_dir / urllib.parse.unquote(href.split("#", 1)[0])).resolve()
            if not target.is_file():
                missing.append(f"{page_dir.name}: {href}")
    manifest = root / "bundle.json"
    if manifest.is_file():
        for artifact in json.loads(manifest.read_bytes())["artifacts"]:
            if not (root / "files" / artifact["filename"]).is_file():
                missing.append(f"bundle.json: {artifact['filename']}")
    return missing


def _identity(root: Path) -> tuple[int, int] | None:
    try:
        st = root.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


@pytest.fixture
def reader(old_bundle: Path) -> Iterator[Callable[[], list[str]]]:
    """A reader polling the bundle while it is updated; yields a function
    returning what it saw dangling.  A look that spans the swap itself (the
    directory is another one when it ends) is not counted: a reader pinned
    to the old tree may see it being removed."""
    seen: list[str] = []
    stop = threading.Event()
    looks = 0

    def poll() -> None:
        nonlocal looks
        while not stop.is_set():
            start = _identity(old_bundle)
            try:
                found = dangling(old_bundle)
            except (OSError, ValueError):
                found = []  # a page replaced as it was read: looked at again
            if found and start is not None and _identity(old_bundle) == start:
                seen.extend(found)
            looks += 1

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    yield lambda: seen
    stop.set()
    thread.join(10)
    assert looks > 0


def test_readers_never_see_a_page_linking_a_missing_file(
    tmp_path: Path,
    server: IndexServer,
    old_bundle: Path,
    monkeypatch: pytest.MonkeyPatch,
    reader: Callable[[], list[str]],
) -> None:
    from bundler.bundle import download, pagewriter

    # The steps of an update that change a tree: the live bundle is looked
    # at before and after each (as a web server would at any moment).
    looked: list[str] = []

    def look(step: str) -> None:
        looked.append(step)
        assert dangling(old_bundle) == [], f"after {step}"

    real_prune, real_write = download.prune, pagewriter.write_index

    def prune(*args: Any, **kwargs: Any) -> list[str]:
        look("before pruning")
        try:
            return real_prune(*args, **kwargs)
        finally:
            look("pruning")

    def write_index(*args: Any, **kwargs: Any) -> Any:
        look("before writing the index")
        try:
            return real_write(*args, **kwargs)
        finally:
            look("writing the index")

    monkeypatch.setattr(download, "prune", prune)
    monkeypatch.setattr(pagewriter, "write_index", write_index)
    new_lock = lock_for(tmp_path, server, "app==2.0", "new")
    assert bundle_cmd("download", str(new_lock), "-o", str(old_bundle)) == 0
    assert len(looked) == 4
    assert reader() == []
    assert not (old_bundle / "files" / OLD_WHEEL).exists()


# --- kill -9 -----------------------------------------------------------------------


@pytest.mark.skipif(sys.platform == "win32", reason="kill -9 and SIGINT are POSIX")
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT], ids=["kill -9", "ctrl-c"])
def test_a_kill_mid_download_leaves_the_bundle_byte_identical(
    tmp_path: Path, server: IndexServer, old_bundle: Path, sig: signal.Signals
) -> None:
    before = tree(old_bundle)
    new_lock = lock_for(tmp_path, server, "app==2.0", "new")
    stalled = server.file_path(EXTRA_WHEEL)
    # The update cannot end before this answer: it is killed meanwhile.
    server.add_faults(stalled, Reply(delay=10.0))
    proc = subprocess.Popen(
        cli("download", str(new_lock), "-o", str(old_bundle), "--quiet"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while server.hits(stalled) == 0:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the download never reached the stalled file"
            time.sleep(0.02)
        # Best effort: the other files of the update in place beside it.
        landed = time.monotonic() + 5
        while time.monotonic() < landed and not any(
            tmp_path.glob(f".pypi.new-*/files/{NEW_WHEEL}")
        ):
            time.sleep(0.02)
    finally:
        proc.send_signal(sig)  # SIGKILL: no clean-up runs
        _, stderr = proc.communicate(timeout=30)
    assert tree(old_bundle) == before
    assert bundle_cmd("verify", str(old_bundle), "--no-install") == 0
    if sig == signal.SIGKILL:
        assert proc.returncode == -9
        assert len(beside(old_bundle)) == 1  # the update it was making
    else:  # Ctrl-C: the copy is removed on the way out
        assert proc.returncode == 130, stderr
        assert beside(old_bundle) == set()
    # A re-run clears what the killed one left, and completes.
    assert bundle_cmd("download", str(new_lock), "-o", str(old_bundle)) == 0
    assert bundle_cmd("verify", str(old_bundle), "--no-install") == 0
    assert (old_bundle / "files" / EXTRA_WHEEL).is_file()
    assert beside(old_bundle) == set()


# --- disk full ---------------------------------------------------------------------

# Run in a user and mount namespace: a small tmpfs holds the bundle, the old
# bundle is made, the disk filled to a few pages short, and the update runs.
ENOSPC_SCRIPT = """
import json, os, subprocess, sys
mount, cache, old_lock, new_lock = sys.argv[1:5]
subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", mount], check=True)
bundle = os.path.join(mount, "pypi")
env = dict(os.environ, BUNDLER_CACHE_DIR=cache)

def bundle_cmd(*args):
    done = subprocess.run([sys.executable, "-m", "bundler", *args, "--quiet"],
                          env=env, capture_output=True, text=True)
    return done.returncode, done.stderr

def tree():
    out = {}
    for root, dirs, files in os.walk(bundle):
        for name in dirs + files:
            path = os.path.join(root, name)
            st = os.lstat(path)
            data = "" if os.path.isdir(path) else open(path, "rb").read().hex()
            out[os.path.relpath(path, bundle)] = [st.st_mode, data]
    return out

out = {"old": bundle_cmd("download", old_lock, "-o", bundle)}
out["old_verify"] = bundle_cmd("verify", bundle, "--no-install")
before = tree()
# Leave two pages free: the new bundle's files and pages need more.
free = os.statvfs(mount)
with open(os.path.join(mount, "filler"), "wb") as fh:
    fh.write(b"x" * (free.f_bavail * free.f_frsize - 2 * free.f_frsize))
out["full"] = bundle_cmd("download", new_lock, "-o", bundle)
out["same"] = tree() == before
out["beside"] = sorted(n for n in os.listdir(mount) if n not in ("pypi", "filler", ".pypi.lock"))
out["full_verify"] = bundle_cmd("verify", bundle, "--no-install")
os.unlink(os.path.join(mount, "filler"))
out["again"] = bundle_cmd("download", new_lock, "-o", bundle)
out["again_verify"] = bundle_cmd("verify", bundle, "--no-install")
out["files"] = sorted(os.listdir(os.path.join(bundle, "files")))
print(json.dumps(out))
"""


def _can_mount_tmpfs() -> str | None:
    """Why a tmpfs cannot be mounted in a user namespace here, or None."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return "no unshare command (util-linux)"
    done = subprocess.run(
        [unshare, "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        return f"the OS refuses a tmpfs in a user+mount namespace: {done.stderr.strip()}"
    return None


@pytest.mark.skipif(sys.platform != "linux", reason="tmpfs in a user namespace is Linux")
def test_a_full_disk_mid_update_leaves_the_bundle_byte_identical(
    tmp_path: Path, server: IndexServer
) -> None:
    why = _can_mount_tmpfs()
    if why is not None:
        pytest.skip(f"cannot fill a disk safely: {why}")
    mount = tmp_path / "disk"
    mount.mkdir()
    old_lock = lock_for(tmp_path, server, "app==1.0", "old")
    new_lock = lock_for(tmp_path, server, "app==2.0", "new")
    done = subprocess.run(
        [
            "unshare",
            "-Urm",
            sys.executable,
            "-c",
            ENOSPC_SCRIPT,
            str(mount),
            str(tmp_path / "cache"),
            str(old_lock),
            str(new_lock),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["old"][0] == 0 and out["old_verify"][0] == 0, out
    code, stderr = out["full"]
    assert code == 1, stderr
    assert "nospaceleftondevice" in squeezed(stderr).lower()
    # Said of the bundle, never of the copy being made beside it.
    assert "itisunchanged" in squeezed(stderr), stderr
    assert ".bundle.new" not in stderr and ".pypi.new" not in stderr, stderr
    assert "Traceback" not in stderr
    assert out["same"] is True
    assert out["beside"] == []
    assert out["full_verify"][0] == 0, out["full_verify"][1]
    assert out["again"][0] == 0 and out["again_verify"][0] == 0, out
    assert NEW_WHEEL in out["files"] and OLD_WHEEL not in out["files"]


@pytest.mark.skipif(sys.platform != "linux", reason="bind mounts in a user namespace are Linux")
def test_a_bundle_whose_parent_is_read_only_is_a_usage_error(
    tmp_path: Path, server: IndexServer, old_bundle: Path
) -> None:
    why = _can_mount_tmpfs()
    if why is not None:
        pytest.skip(f"cannot make a read-only directory as root: {why}")
    before = tree(old_bundle)
    new_lock = lock_for(tmp_path, server, "app==2.0", "new")
    parent = str(old_bundle.parent)
    quoted = shlex.quote(parent)
    script = f"mount --bind {quoted} {quoted} && mount -o remount,bind,ro {quoted}"
    download = cli("download", str(new_lock), "-o", str(old_bundle), "--quiet")
    done = subprocess.run(
        ["unshare", "-Urm", "sh", "-c", script + ' && exec "$@"', "sh", *download],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert squeezed(f"{parent} is not writable") in squeezed(done.stderr)
    assert "Traceback" not in done.stderr
    assert tree(old_bundle) == before


# --- the swap and its fall-backs ---------------------------------------------------


def _make_tree(root: Path) -> None:
    (root / "files").mkdir(parents=True)
    (root / "files" / "a.whl").write_bytes(b"a")
    (root / "bundle.json").write_bytes(b"{}")
    (root / "link").symlink_to("bundle.json")


@pytest.mark.parametrize("one_step", [True, False])
def test_an_update_replaces_the_directory_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_step: bool
) -> None:
    if not one_step:  # as on a system without renameat2
        monkeypatch.setattr(fsutil, "exchange", lambda first, second: False)
    root = tmp_path / "pypi"
    _make_tree(root)
    before = tree(root)
    with pytest.raises(KeyboardInterrupt), fsutil.updating(root) as stage:
        assert tree(stage) == before  # a copy, its files linked
        assert (stage / "files" / "a.whl").stat().st_ino == (root / "files" / "a.whl").stat().st_ino
        (stage / "files" / "a.whl").unlink()
        (stage / "files" / "b.whl").write_bytes(b"b")
        raise KeyboardInterrupt
    assert tree(root) == before
    assert beside(root) == set()
    with fsutil.updating(root) as stage:
        (stage / "files" / "a.whl").unlink()
        (stage / "files" / "b.whl").write_bytes(b"b")
    assert sorted(p.name for p in (root / "files").iterdir()) == ["b.whl"]
    assert (root / "link").is_symlink() and (root / "bundle.json").read_bytes() == b"{}"
    assert beside(root) == set()


def test_a_directory_that_cannot_be_read_fails_the_update(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pypi"
    _make_tree(root)
    before = tree(root)
    real_scandir = os.scandir

    def scandir(path: Any = ".") -> Any:
        if isinstance(path, (str, os.PathLike)) and os.fspath(path) == str(root / "files"):
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    # Root reads every directory: the refusal is made up.
    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(BundlerError, match="Permission denied"), fsutil.updating(root):
        pass
    monkeypatch.undo()
    assert tree(root) == before
    assert beside(root) == set()


def test_an_update_killed_between_two_renames_is_undone(tmp_path: Path) -> None:
    root = tmp_path / "pypi"
    _make_tree(root)
    before = tree(root)
    # The old tree set aside, the new one not yet in place: then kill -9.
    os.rename(root, tmp_path / ".pypi.old-0123456789abcdef")
    (tmp_path / ".pypi.new-fedcba9876543210" / "files").mkdir(parents=True)
    # Not ours: another directory's leftovers, a name that only looks alike.
    (tmp_path / ".pypi.new-x.new-0123456789abcdef").mkdir()
    with fsutil.updating(root) as stage:
        assert tree(stage) == before
    assert tree(root) == before
    assert sorted(beside(root)) == [".pypi.new-x.new-0123456789abcdef"]


def test_the_bundle_behind_a_symlink_is_updated_and_the_link_kept(tmp_path: Path) -> None:
    real = tmp_path / "releases" / "pypi"
    _make_tree(real)
    (tmp_path / "pypi").symlink_to(real)
    with fsutil.updating(tmp_path / "pypi") as stage:
        (stage / "bundle.json").write_bytes(b"{ }")
    assert (tmp_path / "pypi").is_symlink()
    assert (real / "bundle.json").read_bytes() == b"{ }"


def test_a_mount_point_or_a_file_cannot_be_updated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pypi"
    _make_tree(root)
    real_ismount = os.path.ismount
    monkeypatch.setattr(os.path, "ismount", lambda p: os.fspath(p) == str(root) or real_ismount(p))
    with pytest.raises(UsageError, match="mount point") as caught, fsutil.updating(root):
        pass
    assert str(root / "pypi") in str(caught.value.hint)
    monkeypatch.undo()
    plain = tmp_path / "plain"
    plain.write_text("x")
    with pytest.raises(UsageError, match="not a directory"), fsutil.updating(plain):
        pass
    assert plain.read_text() == "x"


def test_two_updates_are_serialized(tmp_path: Path) -> None:
    root = tmp_path / "pypi"
    _make_tree(root)
    with fsutil.updating(root) as stage:
        with pytest.raises(BundleLocked), fsutil.updating(root):
            pass
        (stage / "bundle.json").write_bytes(b"[]")
    assert (root / "bundle.json").read_bytes() == b"[]"


# --- without fcntl (as on Windows) ----------------------------------------------

NO_FCNTL = (
    "import sys\n"
    "sys.modules['fcntl'] = None  # import fcntl now fails, as on Windows\n"
    "if sys.argv[1] == 'hold':\n"
    "    from pathlib import Path\n"
    "    from bundler.fsutil import directory_lock\n"
    "    with directory_lock(Path(sys.argv[2])):\n"
    "        print('held', flush=True)\n"
    "        sys.stdin.read()\n"
    "    sys.exit(0)\n"
    "from bundler.cli.main import main\n"
    "main(sys.argv[1:])\n"
)


def no_fcntl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", NO_FCNTL, *args, "--quiet"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def test_lock_and_download_work_without_fcntl(tmp_path: Path, server: IndexServer) -> None:
    req = tmp_path / "requirements.in"
    req.write_text("app==2.0\n")
    lock = tmp_path / "pylock.toml"
    done = no_fcntl("lock", str(req), "-o", str(lock), "-i", server.url)
    assert done.returncode == 0, done.stderr
    bundle = tmp_path / "pypi"
    done = no_fcntl("download", str(lock), "-o", str(bundle))
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr and "Warning" not in done.stderr
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0
    # The lock still keeps a second writer out.
    holder = subprocess.Popen(
        [sys.executable, "-c", NO_FCNTL, "hold", str(bundle)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        busy = no_fcntl("download", str(lock), "-o", str(bundle))
        assert busy.returncode == 1
        assert "inusebyanotherbundlerprocess" in squeezed(busy.stderr)
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0
    done = no_fcntl("download", str(lock), "-o", str(bundle))
    assert done.returncode == 0, done.stderr


def test_an_old_tree_is_removed_whole_without_following_links(tmp_path: Path) -> None:
    root = tmp_path / "old"
    for i in range(20):
        (root / "simple" / f"p{i}").mkdir(parents=True)
        (root / "simple" / f"p{i}" / "index.html").write_text("x")
    (root / "simple" / "link").symlink_to(tmp_path)
    (tmp_path / "kept").write_text("x")
    fsutil.remove_tree(root)
    assert not root.exists() and (tmp_path / "kept").is_file()
