"""The command line end to end, against a local index, with real pip."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from bundler.cli.main import run
from bundler.models import LockedFile
from tests.support import DistSpec, IndexServerFactory, installed, make_venv, pip_run
from tests.support.bundles import install_offline, lock_pins, pip_compile, remove_project

WEB = [
    DistSpec("webapp", "1.0", requires=("framework>=2", "helper[speed]")),
    DistSpec("framework", "1.0"),
    DistSpec("framework", "2.0", requires=("util<3",)),
    DistSpec("framework", "2.1", requires=("util<3",), yanked="broken"),
    DistSpec("util", "2.5", wheel=False),  # sdist only: pip builds it offline
    DistSpec("util", "3.0"),
    DistSpec("helper", "1.0", extras={"speed": ("fastlib",)}),
    DistSpec("fastlib", "0.9", requires_python=">=3.8"),
    DistSpec("fastlib", "1.0", requires_python=">=4"),
]


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def web_index(index_server: IndexServerFactory) -> str:
    return str(index_server(WEB).url)


def bundle_cmd(*args: str) -> int:
    return run([*args, "--quiet"])


def lock_webapp(tmp_path: Path, index_url: str, name: str, *extra: str) -> Path:
    """``webapp`` locked against ``index_url`` into ``tmp_path / name``."""
    req = write(tmp_path / "requirements.in", "webapp\n")
    lock = tmp_path / name
    assert bundle_cmd("lock", str(req), "-o", str(lock), "-i", index_url, *extra) == 0
    return lock


def test_lock_pins_and_hashes(tmp_path: Path, web_index: str) -> None:
    req = write(tmp_path / "requirements.in", "webapp\n")
    out = tmp_path / "requirements.txt"
    assert bundle_cmd("lock", str(req), "-o", str(out), "-i", web_index) == 0
    text = out.read_text()
    assert "webapp==1.0" in text
    assert "framework==2.0" in text  # 2.1 is yanked
    assert "util==2.5" in text
    assert "fastlib==0.9" in text  # 1.0 needs Python >= 4
    assert "--hash=sha256:" in text
    assert "framework==2.0 \\\n" in text
    assert "    # via webapp\n" in text
    assert "127.0.0.1" in text  # the index it was locked against
    before = out.read_bytes()
    assert bundle_cmd("lock", str(req), "-o", str(out), "-i", web_index) == 0
    assert out.read_bytes() == before  # deterministic


def test_build_then_verify_passes_and_installs_offline(tmp_path: Path, web_index: str) -> None:
    req = write(tmp_path / "requirements.in", "webapp\n")
    bundle = tmp_path / "pypi"
    report = tmp_path / "report.json"
    code = bundle_cmd("build", str(req), "-o", str(bundle), "-i", web_index, "--json", str(report))
    assert code == 0, report.read_text()
    data = json.loads(report.read_text())
    assert data["exit_code"] == 0
    checks = {(r["check"], r["status"]) for r in data["verify"]["results"]}
    assert ("integrity", "passed") in checks
    assert ("closure", "passed") in checks
    assert ("reality", "passed") in checks
    for name in ("bundle.json", "requirements.txt", "simple/index.html", "simple/util/index.html"):
        assert (bundle / name).is_file(), name
    # The bundle's lock names no package source: it installs from wherever
    # the bundle is (files/, simple/, a server), as the command line says.
    lock_text = (bundle / "requirements.txt").read_text()
    assert "--index-url" not in lock_text and "--no-index" not in lock_text

    # The bundle alone installs, from each of its forms.
    got = install_offline(bundle, tmp_path / "venv1")
    assert got["webapp"] == "1.0" and got["util"] == "2.5" and got["fastlib"] == "0.9"
    py2 = make_venv(tmp_path / "venv2")
    pip_run(["install", "--index-url", (bundle / "simple").as_uri() + "/", "webapp"], python=py2)
    assert installed(py2)["framework"] == "2.0"


@pytest.fixture
def built(tmp_path: Path, web_index: str) -> Path:
    req = write(tmp_path / "requirements.in", "webapp\n")
    bundle = tmp_path / "pypi"
    assert bundle_cmd("build", str(req), "-o", str(bundle), "-i", web_index, "--no-install") == 0
    return bundle


def verify_json(bundle: Path, tmp_path: Path, *extra: str) -> tuple[int, str]:
    out = tmp_path / "verify.json"
    code = bundle_cmd("verify", str(bundle), "--json", str(out), *extra)
    return code, out.read_text()


def test_verify_fails_when_a_file_is_deleted(built: Path, tmp_path: Path) -> None:
    victim = next((built / "files").glob("framework-*.whl"))
    victim.unlink()
    code, text = verify_json(built, tmp_path, "--no-install")
    assert code == 1
    assert victim.name in text


def test_quiet_verify_says_only_what_fails(built: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert run(["verify", str(built), "--no-install", "--quiet"]) == 0
    assert capsys.readouterr().err == ""  # a passing gate is silent
    victim = next((built / "files").glob("framework-*.whl"))
    victim.unlink()
    assert run(["verify", str(built), "--no-install", "--quiet"]) == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines[-1] == "FAIL"
    assert lines[:-1] and all(line.startswith("✗ ") for line in lines[:-1])
    assert any(victim.name in line for line in lines)


def test_verify_fails_when_a_byte_changes(built: Path, tmp_path: Path) -> None:
    victim = next((built / "files").glob("util-*.tar.gz"))
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    code, text = verify_json(built, tmp_path, "--no-install")
    assert code == 1
    assert victim.name in text


def test_verify_fails_when_a_dependency_is_missing(built: Path, tmp_path: Path) -> None:
    """Remove a dependency from the bundle consistently (file, page, manifest,
    requirements) so that only closure and the live install can notice."""
    remove_project(built, "fastlib")
    code, text = verify_json(built, tmp_path)
    assert code == 1
    assert "fastlib" in text
    data = json.loads(text)
    failed = {r["check"] for r in data["results"] if r["status"] == "failed"}
    assert "closure" in failed
    assert "reality" in failed


def test_verify_fails_when_a_page_lists_a_missing_file(built: Path, tmp_path: Path) -> None:
    page = built / "simple" / "util" / "index.html"
    text = page.read_text().replace(
        "</body>",
        '<a href="../../files/util-9.9.tar.gz#sha256='
        + "0" * 64
        + '">util-9.9.tar.gz</a>\n</body>',
    )
    page.write_text(text)
    code, out = verify_json(built, tmp_path, "--no-install")
    assert code == 1
    assert "util-9.9.tar.gz" in out


def test_verify_unexpected_file(built: Path, tmp_path: Path) -> None:
    (built / "files" / "stray-1.0-py3-none-any.whl").write_bytes(b"x")
    code, out = verify_json(built, tmp_path, "--no-install")
    assert code == 1
    assert "stray-1.0-py3-none-any.whl" in out


def test_download_accepts_pip_compile_output(tmp_path: Path, web_index: str) -> None:
    req = write(tmp_path / "requirements.in", "webapp\n")
    lock = tmp_path / "requirements.txt"
    pip_compile(req, lock, "--no-header", "--index-url", web_index)
    bundle = tmp_path / "pypi"
    assert bundle_cmd("download", str(lock), "-o", str(bundle), "-i", web_index) == 0
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0


def test_same_pins_as_pip_compile(tmp_path: Path, web_index: str) -> None:
    req = write(tmp_path / "requirements.in", "webapp\nframework<2.1\n")
    ours = tmp_path / "ours.txt"
    theirs = tmp_path / "theirs.txt"
    assert bundle_cmd("lock", str(req), "-o", str(ours), "-i", web_index) == 0
    pip_compile(req, theirs, "--index-url", web_index)
    assert lock_pins(ours) == lock_pins(theirs)


def test_unsatisfiable_exits_1_with_chain(tmp_path: Path, index_server: IndexServerFactory) -> None:
    server = index_server(
        [
            DistSpec("app", "1.0", requires=("lib<2",)),
            DistSpec("tool", "3.1", requires=("lib>=2.1",)),
            DistSpec("lib", "1.0"),
            DistSpec("lib", "2.1"),
        ]
    )
    req = write(tmp_path / "requirements.in", "app\ntool\n")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bundler",
            "lock",
            str(req),
            "-o",
            str(tmp_path / "out.txt"),
            "-i",
            server.url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.returncode == 1
    assert "app==1.0 depends on lib<2" in proc.stderr
    assert "tool==3.1 depends on lib>=2.1" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "out.txt").exists()


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert run(["lock", str(tmp_path / "missing.in")]) == 2
    bad = write(tmp_path / "bad.in", "requests\n--frobnicate\n-e ./local\n")
    proc = subprocess.run(
        [sys.executable, "-m", "bundler", "lock", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "bad.in:2" in proc.stderr and "bad.in:3" in proc.stderr
    assert run(["verify", str(tmp_path / "nowhere")]) == 2
    assert run(["lock", str(bad), "--platform", "solaris"]) == 2


def test_credentials_never_written(tmp_path: Path, index_server: IndexServerFactory) -> None:
    server = index_server(WEB, auth=("alice", "s3cr3t-token"))
    req = write(tmp_path / "requirements.in", "webapp\n")
    bundle = tmp_path / "pypi"
    report = tmp_path / "report.json"
    url = server.url_with_auth()
    assert "s3cr3t-token" in url
    code = bundle_cmd(
        "build", str(req), "-o", str(bundle), "-i", url, "--no-install", "--json", str(report)
    )
    assert code == 0, report.read_text()
    for path in [*tmp_path.rglob("*"), *Path(os.environ["BUNDLER_CACHE_DIR"]).rglob("*")]:
        if path.is_file():
            assert b"s3cr3t-token" not in path.read_bytes(), path


def test_existing_pins_kept_unless_upgraded(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    from tests.support import build_wheel

    server = index_server(
        [
            DistSpec("app", "1.0", requires=("lib",)),
            DistSpec("lib", "1.0"),
            DistSpec("other", "1.0"),
        ]
    )
    req = write(tmp_path / "requirements.in", "app\nother\n")
    out = tmp_path / "requirements.txt"
    lock = ["lock", str(req), "-o", str(out), "-i", server.url]
    assert bundle_cmd(*lock) == 0
    assert "lib==1.0" in out.read_text()
    build_wheel(DistSpec("lib", "2.0"), "py3-none-any", server.files_dir)
    build_wheel(DistSpec("other", "2.0"), "py3-none-any", server.files_dir)
    assert bundle_cmd(*lock, "--upgrade-package", "lib") == 0
    text = out.read_text()
    assert "lib==2.0" in text and "other==1.0" in text  # only lib moved
    assert bundle_cmd(*lock) == 0
    assert "other==1.0" in out.read_text()  # existing pin kept
    assert bundle_cmd(*lock, "--upgrade") == 0
    assert "other==2.0" in out.read_text()


def test_serve_command_serves_and_stops_on_ctrl_c(built: Path) -> None:
    import re
    import signal
    import urllib.request

    proc = subprocess.Popen(
        [sys.executable, "-m", "bundler", "serve", str(built), "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "COLUMNS": "300"},
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/simple/)", first)
        assert match, first
        with urllib.request.urlopen(match[1] + "webapp/", timeout=10) as resp:
            assert b"webapp-1.0" in resp.read()
        # The request is logged once it has been answered.
        assert "GET /simple/webapp/ 200" in proc.stderr.readline()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "Traceback" not in err


def test_pylock_output_and_input(tmp_path: Path, web_index: str) -> None:
    from packaging.pylock import Pylock

    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib

    lock = lock_webapp(tmp_path, web_index, "pylock.toml")
    parsed = Pylock.from_dict(tomllib.loads(lock.read_text()))
    assert {p.name for p in parsed.packages} >= {"webapp", "framework", "util", "helper", "fastlib"}
    assert "127.0.0.1" in lock.read_text()
    bundle = tmp_path / "pypi"
    assert bundle_cmd("download", str(lock), "-o", str(bundle), "-i", web_index) == 0
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0
    inner = Pylock.from_dict(tomllib.loads((bundle / "pylock.toml").read_text()))
    for package in inner.packages:
        for wheel in package.wheels or ():
            assert wheel.path is not None and (bundle / wheel.path).is_file()


def test_add_private_wheel_with_public_dependencies(tmp_path: Path, web_index: str) -> None:
    from tests.support import build_wheel

    req = write(tmp_path / "requirements.in", "framework==1.0\n")
    bundle = tmp_path / "pypi"
    assert bundle_cmd("build", str(req), "-o", str(bundle), "-i", web_index, "--no-install") == 0
    dist = tmp_path / "dist"
    dist.mkdir()
    private = build_wheel(
        DistSpec("acme-tool", "1.0", requires=("helper[speed]",)), "py3-none-any", dist
    )
    assert bundle_cmd("add", str(bundle), str(private), "-i", web_index) == 0
    names = {p.name.split("-")[0] for p in (bundle / "files").iterdir()}
    assert {"acme_tool", "helper", "fastlib", "framework"} <= names
    assert bundle_cmd("verify", str(bundle)) == 0
    py = make_venv(tmp_path / "venv")
    pip_run(
        ["install", "--no-index", "--find-links", str(bundle / "files"), "acme-tool"], python=py
    )
    assert installed(py)["fastlib"] == "0.9"
    # The same file again is a no-op; other bytes under its name are refused.
    assert bundle_cmd("add", str(bundle), str(private), "-i", web_index) == 0
    other = tmp_path / "other"
    other.mkdir()
    fake = build_wheel(DistSpec("acme-tool", "1.0", requires=("util",)), "py3-none-any", other)
    assert bundle_cmd("add", str(bundle), str(fake), "-i", web_index) != 0


def test_verify_fails_when_pylock_disagrees(built: Path, tmp_path: Path) -> None:
    pylock = built / "pylock.toml"
    text = pylock.read_text()
    victim = next((built / "files").glob("framework-*.whl")).name
    assert victim in text
    pylock.write_text(text.replace(f"files/{victim}", "files/framework-9.9-py3-none-any.whl"))
    code, out = verify_json(built, tmp_path, "--no-install")
    assert code == 1
    assert "pylock.toml" in out and victim in out


def test_verify_refuses_extra_sources_in_requirements(built: Path, tmp_path: Path) -> None:
    req = built / "requirements.txt"
    text = req.read_text()
    for option in ("--find-links /somewhere", "--no-index", "--index-url http://127.0.0.1:9/"):
        req.write_text(f"{option}\n{text}")
        code, out = verify_json(built, tmp_path, "--no-install")
        assert code == 1, option
        assert "names a package source" in out, option


def test_direct_reference_credentials_are_never_written(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server([DistSpec("alpha", "1.0")], auth=("alice", "s3cr3t-direct"))
    url = server.url_with_auth().replace("/simple/", "/files/alpha-1.0-py3-none-any.whl")
    req = write(tmp_path / "requirements.in", f"alpha @ {url}\n")
    bundle = tmp_path / "pypi"
    code = bundle_cmd("build", str(req), "-o", str(bundle), "--no-index", "--no-install")
    assert code == 0
    for path in bundle.rglob("*"):
        if path.is_file():
            assert b"s3cr3t-direct" not in path.read_bytes(), path
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0


def test_unreadable_inputs_are_errors_not_crashes(tmp_path: Path, built: Path) -> None:
    bad = tmp_path / "lock.txt"
    bad.write_bytes(b"\xff\xfe\x00garbage")
    assert run(["download", str(bad), "-o", str(tmp_path / "out")]) == 2
    afile = tmp_path / "afile"
    afile.write_text("x")
    good = built / "requirements.txt"
    assert run(["download", str(good), "-o", str(afile)]) == 1
    manifest = built / "bundle.json"
    data = json.loads(manifest.read_text())
    data["requirements"] = ["alpha >>> 1"]
    manifest.write_text(json.dumps(data))
    # A bundle that cannot be read fails the gate, as a missing bundle.json does.
    assert run(["verify", str(built), "--no-install"]) == 1


def test_download_from_a_listing_without_hashes(tmp_path: Path, web_index: str) -> None:
    """A plain directory listing (find-links page) gives no hashes: lock and
    download hash the files themselves."""
    import http.server
    import threading
    from functools import partial

    from tests.support import build_all

    dists = tmp_path / "dists"
    dists.mkdir()
    build_all([DistSpec("alpha", "1.0", requires=("beta",)), DistSpec("beta", "2.0")], dists)
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(dists))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        links = f"http://127.0.0.1:{httpd.server_address[1]}/"
        req = write(tmp_path / "requirements.in", "alpha\n")
        lock = tmp_path / "requirements.txt"
        assert bundle_cmd("lock", str(req), "-o", str(lock), "--no-index", "-f", links) == 0
        assert "--hash=sha256:" in lock.read_text()
        bundle = tmp_path / "pypi"
        assert bundle_cmd("download", str(lock), "-o", str(bundle), "--no-index", "-f", links) == 0
        assert bundle_cmd("verify", str(bundle), "--no-install") == 0
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_binary_policy_is_recorded_and_honoured_by_download(tmp_path: Path, web_index: str) -> None:
    req = write(tmp_path / "requirements.in", "helper[speed]\n")
    lock = tmp_path / "requirements.txt"
    assert (
        bundle_cmd("lock", str(req), "-o", str(lock), "-i", web_index, "--no-binary", "fastlib")
        == 0
    )
    assert "--no-binary fastlib" in lock.read_text()
    bundle = tmp_path / "pypi"
    assert bundle_cmd("download", str(lock), "-o", str(bundle), "-i", web_index) == 0
    names = {p.name for p in (bundle / "files").iterdir()}
    assert "fastlib-0.9.tar.gz" in names
    assert not any(n.startswith("fastlib-0.9-") and n.endswith(".whl") for n in names)
    assert "--no-binary fastlib" in (bundle / "requirements.txt").read_text()
    assert bundle_cmd("verify", str(bundle)) == 0


def test_download_takes_files_from_a_pylock_without_any_index(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(WEB)
    lock = lock_webapp(tmp_path, server.url, "pylock.toml")
    pages_before = sum(1 for e in server.log if e.path.startswith("/simple/"))
    bundle = tmp_path / "pypi"
    assert bundle_cmd("download", str(lock), "-o", str(bundle), "--no-index") == 0
    assert sum(1 for e in server.log if e.path.startswith("/simple/")) == pages_before
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0


PYLOCK_DOWNLOAD_PROBE = (
    "import sys\n"
    "from bundler.cli.main import run\n"
    "code = run(sys.argv[1:])\n"
    "# A PEP 751 lock names its files: the index collector is never loaded,\n"
    "# and neither is the requirements-file parser.\n"
    "unused = ('bundler.index.collector', 'html.parser', 'bundler.spec.reqfile')\n"
    "print(sorted(m for m in unused if m in sys.modules))\n"
    "sys.exit(code)\n"
)


def test_a_download_from_a_pylock_loads_no_index_collector_nor_requirements_parser(
    tmp_path: Path, web_index: str
) -> None:
    lock = lock_webapp(tmp_path, web_index, "pylock.toml")
    probe = [sys.executable, "-c", PYLOCK_DOWNLOAD_PROBE, "download", str(lock)]
    done = subprocess.run(
        [*probe, "-o", str(tmp_path / "pypi"), "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
    assert (tmp_path / "pypi" / "bundle.json").is_file()


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_a_bundle_is_readable_by_a_web_server_running_as_another_user(
    tmp_path: Path, web_index: str
) -> None:
    from bundler.fsutil import DIR_MODE, FILE_MODE

    lock = lock_webapp(tmp_path, web_index, "pylock.toml")
    bundle = tmp_path / "pypi"
    assert bundle_cmd("download", str(lock), "-o", str(bundle)) == 0
    modes = {
        str(p.relative_to(bundle)): stat.S_IMODE(p.stat().st_mode)
        for p in bundle.rglob("*")
        if p.name != ".bundle.lock"
    }
    assert any(name.endswith(".whl.metadata") for name in modes)
    # As files made by open() and directories by mkdir(): temp files are 0600
    # and temp directories 0700 until told otherwise.
    expected = {name: DIR_MODE if (bundle / name).is_dir() else FILE_MODE for name in modes}
    assert modes == expected


def test_a_failed_download_into_a_new_directory_leaves_nothing(
    tmp_path: Path, web_index: str
) -> None:
    lock = lock_webapp(tmp_path, web_index, "pylock.toml")
    text = lock.read_text()
    lock.with_name("pylock.good.toml").write_text(text)
    # One file's hash is wrong: the others download, and no bundle appears.
    wheel = text.index('name = "helper-1.0-py3-none-any.whl"')
    start = text.index('sha256 = "', wheel) + len('sha256 = "')
    lock.write_text(text[:start] + "0" * 64 + text[start + 64 :])
    bundle = tmp_path / "pypi"
    assert bundle_cmd("download", str(lock), "-o", str(bundle)) == 1
    assert not bundle.exists()
    assert {p.name for p in tmp_path.glob(".pypi.*")} <= {".pypi.lock"}
    # Run again with the right lock: a whole bundle.
    assert bundle_cmd("download", str(lock.with_name("pylock.good.toml")), "-o", str(bundle)) == 0
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0


OFFLINE_PROBE = (
    "import sys\n"
    "from bundler.cli.main import run\n"
    "code = run(sys.argv[1:])\n"
    "# Served from the cache alone: the HTTP stack is never even imported.\n"
    "print('urllib3 imported' if 'urllib3' in sys.modules else 'no urllib3')\n"
    "sys.exit(code)\n"
)


def test_offline_lock_from_the_cache_alone(tmp_path: Path, web_index: str) -> None:
    req = write(tmp_path / "requirements.in", "webapp\n")
    online, offline = tmp_path / "online.txt", tmp_path / "offline.txt"
    cache = tmp_path / "cache"
    args = ["-i", web_index, "--cache-dir", str(cache), "--quiet"]
    assert bundle_cmd("lock", str(req), "-o", str(online), *args) == 0
    probe = [sys.executable, "-c", OFFLINE_PROBE, "lock", str(req), "-o", str(offline)]
    done = subprocess.run([*probe, *args, "--offline"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "no urllib3"
    body = [line for line in offline.read_text().splitlines() if not line.startswith("#")]
    assert body == [line for line in online.read_text().splitlines() if not line.startswith("#")]
    # An empty cache cannot answer: a clear error, not a traceback.
    empty = [a if a != str(cache) else str(tmp_path / "empty") for a in args]
    failed = subprocess.run(
        [*probe, *empty, "--offline"], capture_output=True, text=True, check=False
    )
    assert failed.returncode == 1
    assert "offline" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_page_max_age_decides_when_pages_are_asked_again(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(WEB)
    req = write(tmp_path / "requirements.in", "webapp\n")
    out = tmp_path / "requirements.txt"

    def lock(*extra: str) -> int:
        args = ["-i", str(server.url), "--cache-dir", str(tmp_path / "cache")]
        assert bundle_cmd("lock", str(req), "-o", str(out), *args, *extra) == 0
        return sum(1 for r in server.log if r.path.startswith("/simple/webapp/"))

    assert lock() == 1
    assert lock() == 1  # within the default window: the cached page
    assert lock("--page-max-age", "0") == 2  # always ask
    config = write(tmp_path / "bundle.toml", "page-max-age = 0\n")
    assert lock("--config", str(config)) == 3  # the configuration file sets it too
    assert bundle_cmd("lock", str(req), "-o", str(out), "--page-max-age", "-1") == 2


def test_download_from_requirements_fetches_each_file_once(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    # The files of each pin start as soon as its page is in; the download
    # proper then takes them from the cache: no file is asked for twice.
    server = index_server(WEB)
    url = str(server.url)
    lock = lock_webapp(
        tmp_path, url, "requirements.txt", "--cache-dir", str(tmp_path / "lock-cache")
    )
    server.log.clear()
    bundle = tmp_path / "pypi"
    cache = ["--cache-dir", str(tmp_path / "download-cache")]
    assert bundle_cmd("download", str(lock), "-o", str(bundle), "-i", url, *cache) == 0
    fetched = [r.path for r in server.log if r.path.startswith("/files/")]
    assert fetched
    assert len(fetched) == len(set(fetched))
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert {f"/files/{a['filename']}" for a in manifest["artifacts"]} == set(fetched)
    assert bundle_cmd("verify", str(bundle), "--no-install") == 0


def test_files_of_a_pin_start_before_a_slow_page_arrives(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    from bundler.index.collector import PackageIndex
    from bundler.index.settings import ClientSettings, hash_matched, make_client
    from bundler.lock.files import read_lock_file
    from bundler.lock.hydrate import hydrate
    from bundler.spec.target import host_target
    from tests.support.indexserver import Reply

    server = index_server(WEB)
    lock = lock_webapp(tmp_path, str(server.url), "requirements.txt")
    lock_input = read_lock_file(lock)
    # util sorts before webapp; its page now takes a second to come.
    server.add_faults("/simple/util/", Reply(delay=1.0))
    handed: dict[str, float] = {}

    def on_files(files: Sequence[LockedFile]) -> None:
        for f in files:
            handed.setdefault(f.filename.split("-")[0], time.monotonic())

    client = make_client(ClientSettings(cache_dir=tmp_path / "cache"))
    indexes = hash_matched(lock_input.indexes)
    with client, PackageIndex(indexes, client) as index:
        hydrate(lock_input, [host_target()], index, client, on_files=on_files)
    # webapp's files were handed over while util's page was still on its way.
    assert handed["util"] - handed["webapp"] > 0.5


def test_the_bundle_command_tunes_the_collector_except_for_the_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import gc

    calls: list[tuple[int, ...]] = []
    monkeypatch.setattr(gc, "set_threshold", lambda *t: calls.append(t))
    missing = str(tmp_path / "missing")
    # In-process callers (tests, embedders) keep their process as it is.
    assert run(["verify", missing, "--quiet"]) == 2
    assert calls == []
    # The bundle command's own process: rarely, as a run makes few cycles...
    assert run(["verify", missing, "--quiet"], own_process=True) == 2
    assert calls == [(100_000, 50, 100)]
    # ...but not for a long-running server.
    assert run(["serve", missing], own_process=True) == 2
    assert calls == [(100_000, 50, 100)]


def test_a_log_gets_plain_lines_and_a_terminal_rich_ones(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bundler.cli.console import ConsoleReporter

    monkeypatch.delenv("FORCE_COLOR", raising=False)
    plain = ConsoleReporter(quiet=False)  # stderr is captured: not a terminal
    assert plain.plain
    plain.stage("downloading")
    plain.task_start("t", "a file", 10)  # no progress bar in a log
    plain.task_advance("t", 5)
    plain.task_done("t")
    plain.info("out: 1 file, https://user:secret@example.org/x")
    plain.warning("files/x is not part of this bundle [sic]")
    err = capsys.readouterr().err
    assert err == (
        "downloading…\n"
        "out: 1 file, https://user:***@example.org/x\n"
        "warning: files/x is not part of this bundle [sic]\n"
    )
    quiet = ConsoleReporter(quiet=True)
    quiet.stage("downloading")
    quiet.info("done")
    quiet.warning("still said")
    assert capsys.readouterr().err == "warning: still said\n"
    monkeypatch.setenv("FORCE_COLOR", "1")
    assert not ConsoleReporter(quiet=False).plain


# --- start-up ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "online"),
    [
        (["lock", "requirements.in"], True),
        (["--quiet", "download", "pylock.toml", "-o", "pypi"], True),
        (["build", "requirements.in", "--offline"], False),
        (["verify", "pypi"], False),
        (["serve", "pypi"], False),
        ([], False),
    ],
)
def test_start_up_loads_the_trust_store_ahead_for_networked_commands(
    argv: list[str], online: bool
) -> None:
    from bundler.__main__ import goes_online

    assert goes_online(argv) is online


START_UP_PROBE = (
    "import gc, sys\n"
    "import bundler.__main__ as entry\n"
    "import bundler.index.trust as trust\n"
    "seen = []\n"
    "real = trust.preload_trust_store\n"
    "trust.preload_trust_store = lambda *a: (seen.append(gc.isenabled()), real(*a))\n"
    "import bundler.cli.main as cli\n"
    "run = cli.run\n"
    "def probe(argv=None, **kw):\n"
    "    code = run(argv, **kw)\n"
    "    print(seen, gc.isenabled(), gc.get_freeze_count() > 1000, file=sys.stderr)\n"
    "    return code\n"
    "cli.run = probe\n"
    "sys.argv = ['bundle', *sys.argv[1:]]\n"
    "entry.main()\n"
)


def test_start_up_imports_without_the_garbage_collector_and_turns_it_on(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\ncreated-by = "test"\npackages = []\n')
    done = subprocess.run(
        [sys.executable, "-c", START_UP_PROBE, "download", str(lock), "-o", str(tmp_path / "b")],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    # Off while bundler was imported (the trust store was asked for then),
    # on again for the run, with what start-up made frozen.
    assert done.stderr.strip().splitlines()[-1] == "[False] True True", done.stderr


@pytest.mark.parametrize("pin", ["#sha256={wrong}", " --hash=sha256:{wrong}", "#sha256={right}"])
def test_a_direct_references_hashes_are_checked_as_pip_checks_them(
    tmp_path: Path,
    index_server: IndexServerFactory,
    capsys: pytest.CaptureFixture[str],
    pin: str,
) -> None:
    # pip refuses a file that matches neither its --hash options nor the
    # #sha256= of its URL; so does lock, before writing anything.
    server = index_server([DistSpec("alpha", "1.0")])
    url = server.file_url("alpha-1.0-py3-none-any.whl")
    wheel = server.files_dir / "alpha-1.0-py3-none-any.whl"
    right = hashlib.sha256(wheel.read_bytes()).hexdigest()
    line = "alpha @ " + url + pin.format(wrong="0" * 64, right=right)
    req = write(tmp_path / "requirements.in", line + "\n")
    out = tmp_path / "requirements.txt"
    code = run(["lock", str(req), "-o", str(out), "--no-index"])
    err = " ".join(capsys.readouterr().err.split())
    if "right" in pin:
        assert code == 0, err
        assert f"--hash=sha256:{right}" in out.read_text()
        return
    assert code == 1, err
    assert f"requirements.in:1: {url} does not match the hashes given for it" in err
    assert f"it hashes to sha256:{right}" in err
    assert not out.exists()
