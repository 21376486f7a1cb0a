"""The post-publish gate (``bundle verify --index-url``) for several
targets: each finds a file with a locked hash among those it can install,
a lock file is checked only for what it covers, and no cached copy of a
page stands in for what the index serves now (on 127.0.0.1)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from bundler.cli.main import run
from bundler.index.client import HttpClient
from tests.support import DistSpec, IndexServer, build_all
from tests.support.servers import QuietHandler, static_server

LINUX = "py3-none-manylinux_2_17_x86_64"
WINDOWS = "py3-none-win_amd64"
UNIVERSE = [
    DistSpec("app", "1.0", requires=("native",), sdist=False),
    DistSpec("native", "1.0", wheel_tags=(LINUX, WINDOWS), sdist=False),
]
TARGETS = ["--python-version", "3.12", "--platform", "linux", "--platform", "windows"]
WIN_WHEEL = f"native-1.0-{WINDOWS}.whl"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("verify-index-targets")
    build_all(UNIVERSE, base / "dists")
    (base / "requirements.in").write_text("app\n")
    with pytest.MonkeyPatch.context() as mp, IndexServer(base / "dists") as index:
        mp.setenv("BUNDLER_CACHE_DIR", str(base / "cache"))
        argv = ["build", str(base / "requirements.in"), "-o", str(base / "pypi"), "-i", index.url]
        assert run([*argv, *TARGETS, "--no-install", "--quiet"]) == 0
    return base / "pypi"


def verify(url: str, lock: Path, out: Path, *extra: str) -> tuple[int, list[str]]:
    argv = ["verify", "--index-url", url, str(lock), "--no-install", "--quiet"]
    code = run([*argv, "--json", str(out), *extra])
    doc = json.loads(out.read_text())
    problems = [
        f"{p['subject']}: {p['message']}" for r in doc.get("results", []) for p in r["problems"]
    ]
    return code, problems


def test_a_target_whose_own_wheel_was_rebuilt_fails_with_a_hash_only_lock(
    bundle: Path, tmp_path: Path
) -> None:
    # The index serves a rebuilt Windows wheel, its page listing the new
    # hash: the Linux wheel still has a locked hash, which is no help to
    # Windows, where pip --require-hashes finds nothing to install.
    served = tmp_path / "index"
    shutil.copytree(bundle, served)
    url = (served / "simple").as_uri() + "/"
    lock = bundle / "requirements.txt"
    code, problems = verify(url, lock, tmp_path / "a.json", *TARGETS)
    assert code == 0, problems
    wheel = served / "files" / WIN_WHEEL
    old = hashlib.sha256(wheel.read_bytes()).hexdigest()
    wheel.write_bytes(wheel.read_bytes() + b"\0")
    new = hashlib.sha256(wheel.read_bytes()).hexdigest()
    for page in (served / "simple" / "native").iterdir():
        page.write_text(page.read_text().replace(old, new))
    code, problems = verify(url, lock, tmp_path / "b.json", *TARGETS)
    assert code == 1, problems
    assert (
        f"native: native==1.0: of the files {url} lists for cp312-win_amd64 ({WIN_WHEEL}),"
        " none has a locked hash"
    ) in problems


def test_a_pylock_is_checked_for_what_it_covers_not_this_machine(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = (bundle / "simple").as_uri() + "/"
    lock = bundle / "pylock.toml"
    out = tmp_path / "out.json"
    argv = ["verify", "--index-url", url, str(lock), "--no-install", "--quiet"]
    assert run([*argv, "--json", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "does not cover this machine" in err
    assert "hint: name the lock's targets with --python-version and --platform" in err
    code, problems = verify(url, lock, out, *TARGETS)
    assert code == 0, problems


def test_a_gate_client_never_revalidates_a_cached_page(tmp_path: Path) -> None:
    # A 304 to If-Modified-Since trusts the server's mtime, which a page
    # restored with its old time fools: the gate asks for the whole page.
    (tmp_path / "simple" / "app").mkdir(parents=True)
    (tmp_path / "simple" / "app" / "index.html").write_text("<html><body></body></html>")
    asked: list[bool] = []

    class Recording(QuietHandler):
        def do_GET(self) -> None:
            conditional = ("If-Modified-Since", "If-None-Match")
            asked.append(any(h in self.headers for h in conditional))
            super().do_GET()

    with static_server(tmp_path, Recording) as root:
        page = f"{root}/simple/app/"
        client = HttpClient(cache_dir=tmp_path / "cache", page_max_age=0)
        client.get(page, cacheable=True)
        client.get(page, cacheable=True)
        client.revalidate = False
        client.get(page, cacheable=True)
    assert asked == [False, True, False]


def test_pages_served_as_text_plain_fail_as_pip_skips_them(bundle: Path, tmp_path: Path) -> None:
    # pip: "Skipping page ... because the GET request got Content-Type:
    # text/plain", then "No matching distribution".
    class Plain(QuietHandler):
        def guess_type(self, path: str | os.PathLike[str]) -> str:
            return "text/plain" if "/simple/" in str(path) else super().guess_type(path)

    with static_server(bundle, Plain) as root:
        url = f"{root}/simple/"
        code, problems = verify(url, bundle / "requirements.txt", tmp_path / "o.json", *TARGETS)
    assert code == 1, problems
    assert (
        f"app: {url}app/ is served as Content-Type 'text/plain', and pip skips a page"
        " that is not HTML or PEP 691 JSON: it finds nothing to install there"
    ) in problems


def test_a_file_listed_under_an_older_non_normalized_name_passes(
    bundle: Path, tmp_path: Path
) -> None:
    # The same bytes as App-1.0-py3-none-any.whl: pip reads the name as the
    # lock's app-1.0-py3-none-any.whl, and installs it.
    served = tmp_path / "index"
    shutil.copytree(bundle, served)
    old, new = "app-1.0-py3-none-any.whl", "App-1.0-py3-none-any.whl"
    (served / "files" / old).rename(served / "files" / new)
    for page in (served / "simple" / "app").iterdir():
        page.write_text(page.read_text().replace(old, new))
    url = (served / "simple").as_uri() + "/"
    code, problems = verify(url, bundle, tmp_path / "o.json", *TARGETS)
    assert code == 0, problems
