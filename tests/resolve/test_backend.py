"""Metadata prepared offline by the build backends of sdists."""

from __future__ import annotations

import email.parser
import io
import json
import os
import subprocess
import sys
import tarfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from bundler.errors import BundlerError, InvalidDistribution
from bundler.reporting import Reporter
from bundler.resolve.backend import backend_environ, prepare_metadata
from bundler.runtime.isolation import detect_network_isolation
from bundler.spec.archives import extract_sdist, sdist_metadata
from bundler.spec.metadata import parse_metadata
from tests.resolve.test_buildsystem import make_tar_sdist
from tests.support import IndexServerFactory
from tests.support.distbuilder import (
    BACKEND_MODULE,
    DistSpec,
    backend_wheel_spec,
    build_sdist,
    build_wheel,
    core_metadata,
    write_sdist_archive,
)
from tests.support.piputil import installed, make_venv, pip_run

needs_netns = pytest.mark.skipif(
    not detect_network_isolation().available,
    reason=f"no network namespaces here: {detect_network_isolation().reason}",
)

# An sdist with dynamic metadata that builds with the published test backend.
DYNAMIC = DistSpec(
    "dyn",
    "1.0",
    requires=("b>=1", 'c; python_version < "4"'),
    extras={"x": ("d",)},
    dynamic_metadata=True,
    build_backend="tinybackend",
)
BACKEND = backend_wheel_spec("tinybackend", "1.0", requires=("tinyhelper",))
HELPER = DistSpec("tinyhelper", "1.0", sdist=False)


def rewrite_sdist(
    sdist: Path,
    out: Path,
    edit: Callable[[str, bytes], bytes],
    extra: dict[str, bytes] | None = None,
) -> Path:
    """A copy of ``sdist`` at ``out`` with every member passed through ``edit``."""
    with tarfile.open(sdist) as archive:
        members = []
        for member in archive.getmembers():
            fh = archive.extractfile(member)
            assert fh is not None
            members.append((member.name, edit(member.name, fh.read())))
    members.extend((extra or {}).items())
    out.parent.mkdir(parents=True, exist_ok=True)
    write_sdist_archive(str(out), sorted(members))
    return out


def patch_backend(sdist: Path, out: Path, code: str) -> Path:
    """The sdist (in-tree backend) with ``code`` appended to its backend module."""

    def edit(name: str, data: bytes) -> bytes:
        if name.endswith(f"/{BACKEND_MODULE}.py"):
            return data + b"\n\n" + code.encode()
        return data

    return rewrite_sdist(sdist, out, edit)


@pytest.fixture
def find_links(tmp_path: Path) -> Path:
    """A directory holding the published backend and the helper it imports."""
    directory = tmp_path / "build-deps"
    build_wheel(BACKEND, "py3-none-any", directory)
    build_wheel(HELPER, "py3-none-any", directory)
    return directory


class RecordingReporter(Reporter):
    def __init__(self) -> None:
        self.warnings: list[str] = []
        self.details: list[str] = []

    def warning(self, message: str) -> None:
        self.warnings.append(message)

    def detail(self, message: str) -> None:
        self.details.append(message)


# --- extraction ----------------------------------------------------------------


@pytest.fixture(params=["data filter", "plain"])
def extraction(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test with tarfile's data filter and as on Pythons without it."""
    if request.param == "plain":
        monkeypatch.delattr(tarfile, "data_filter")
    elif not hasattr(tarfile, "data_filter"):
        pytest.skip("this Python's tarfile has no data filter")
    return str(request.param)


def test_extract_sdist_unpacks_the_source_tree(tmp_path: Path, extraction: str) -> None:
    path = tmp_path / "t-1.0.tar.gz"
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data, mode in [
            ("t-1.0/PKG-INFO", b"meta", 0o644),
            ("t-1.0/bin/run.sh", b"#!/bin/sh\n", 0o4755),
        ]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), mode
            archive.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("t-1.0/README")
        link.type, link.linkname = tarfile.SYMTYPE, "PKG-INFO"
        archive.addfile(link)
    path.write_bytes(buffer.getvalue())

    tree = extract_sdist(path, path.name, tmp_path / "out")
    assert tree == (tmp_path / "out" / "t-1.0").resolve()
    assert (tree / "PKG-INFO").read_bytes() == b"meta"
    assert (tree / "README").read_bytes() == b"meta"
    mode = (tree / "bin" / "run.sh").stat().st_mode
    assert mode & 0o100
    assert not mode & 0o4000  # no set-uid bit from an archive


@pytest.mark.parametrize(
    ("member", "kind", "reason"),
    [
        ("s-1.0/../../escaped", tarfile.REGTYPE, "'..' in path"),
        ("/tmp/escaped-absolute", tarfile.REGTYPE, "absolute path"),
        ("s-1.0/link", tarfile.SYMTYPE, "link out of the tree"),
        ("s-1.0/dev", tarfile.CHRTYPE, "device"),
    ],
)
def test_extract_sdist_refuses_unsafe_members_before_writing(
    tmp_path: Path, extraction: str, member: str, kind: bytes, reason: str
) -> None:
    path = tmp_path / "s-1.0.tar.gz"
    with tarfile.open(path, mode="w:gz") as archive:
        good = tarfile.TarInfo("s-1.0/PKG-INFO")
        good.size = 4
        archive.addfile(good, io.BytesIO(b"meta"))
        bad = tarfile.TarInfo(member)
        bad.type = kind
        bad.linkname = "../../outside" if kind == tarfile.SYMTYPE else ""
        archive.addfile(bad, io.BytesIO(b""))
    out = tmp_path / "deep" / "out"
    with pytest.raises(InvalidDistribution, match=reason):
        extract_sdist(path, path.name, out)
    assert list(out.iterdir()) == []  # nothing written, not even the good member
    assert not (tmp_path / "escaped").exists()


def test_extract_sdist_zip_and_non_empty_destination(tmp_path: Path) -> None:
    path = tmp_path / "z-1.0.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("z-1.0/PKG-INFO", "meta")
        archive.writestr("z-1.0/pkg/__init__.py", "x = 1\n")
    tree = extract_sdist(path, path.name, tmp_path / "out")
    assert (tree / "pkg" / "__init__.py").read_text() == "x = 1\n"
    with pytest.raises(ValueError, match="not empty"):
        extract_sdist(path, path.name, tmp_path / "out")


def test_extract_sdist_needs_one_top_level_directory(tmp_path: Path) -> None:
    sdist = make_tar_sdist(tmp_path / "m-1.0.tar.gz", {"a/PKG-INFO": b"", "b/PKG-INFO": b""})
    with pytest.raises(InvalidDistribution, match="expected one top-level directory"):
        extract_sdist(sdist, sdist.name, tmp_path / "out")


# --- the backend's environment (pure) -------------------------------------------------


def test_backend_environ_keeps_only_what_a_build_needs(tmp_path: Path) -> None:
    env = backend_environ(
        tmp_path / "home",
        tmp_path / "tmp",
        tmp_path / "venv" / "bin",
        {
            "PATH": "/usr/bin",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "HOME": "/root",
            "GITHUB_TOKEN": "ghp_secret",
            "AWS_SECRET_ACCESS_KEY": "secret",
            "PIP_INDEX_URL": "https://user:pw@example.com/simple",
            "PIP_FIND_LINKS": "/opt/wheels",
            "https_proxy": "http://proxy:3128",
            "PYTHONPATH": "/elsewhere",
        },
    )
    assert env["PATH"] == os.pathsep.join([str(tmp_path / "venv" / "bin"), "/usr/bin"])
    assert env["HOME"] == str(tmp_path / "home")
    assert env["TMPDIR"] == str(tmp_path / "tmp")
    assert env["LANG"] == env["LC_ALL"] == "C.UTF-8"
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert env["PIP_NO_INDEX"] == "1"
    leaked = [value for value in env.values() if "secret" in value or "proxy" in value]
    assert leaked == []
    assert "PIP_FIND_LINKS" not in env
    assert "PYTHONPATH" not in env


# --- the published test backend ---------------------------------------------------


def test_backend_wheel_imports_its_requirements(tmp_path: Path) -> None:
    backend = build_wheel(BACKEND, "py3-none-any", tmp_path)
    helper = build_wheel(HELPER, "py3-none-any", tmp_path)
    check = "import tinybackend; print(tinybackend.build_wheel.__name__)"

    def run(*path: Path) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": os.pathsep.join(map(str, path))}
        return subprocess.run(
            [sys.executable, "-c", check], capture_output=True, text=True, env=env, check=False
        )

    alone = run(backend)
    assert alone.returncode != 0
    assert "No module named 'tinyhelper'" in alone.stderr
    both = run(backend, helper)
    assert both.returncode == 0, both.stderr
    assert both.stdout.strip() == "build_wheel"


def test_published_backend_sdist_has_no_in_tree_backend(tmp_path: Path) -> None:
    sdist = build_sdist(DYNAMIC, tmp_path)
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
        fh = archive.extractfile("dyn-1.0/pyproject.toml")
        assert fh is not None
        pyproject = fh.read().decode()
    assert (
        pyproject == '[build-system]\nrequires = ["tinybackend"]\nbuild-backend = "tinybackend"\n'
    )
    assert f"dyn-1.0/_backend/{BACKEND_MODULE}.py" not in names


@pytest.mark.slow
def test_pip_builds_with_the_published_backend_offline(tmp_path: Path, find_links: Path) -> None:
    build_sdist(DYNAMIC, find_links)
    python = make_venv(tmp_path / "venv")
    pip_run(
        ["install", "--no-index", "--find-links", str(find_links), "--no-deps", "dyn"],
        python=python,
    )
    assert installed(python) == {"dyn": "1.0"}

    for missing in ("tinyhelper", "tinybackend"):
        (find_links / f"{missing}-1.0-py3-none-any.whl").unlink()
        other = make_venv(tmp_path / f"without-{missing}")
        result = pip_run(
            ["install", "--no-index", "--find-links", str(find_links), "--no-deps", "dyn"],
            python=other,
            expect_success=False,
        )
        assert f"No matching distribution found for {missing}" in result.stderr
        assert installed(other) == {}


# --- prepare_metadata -----------------------------------------------------------


@pytest.mark.slow
def test_prepare_metadata_of_a_dynamic_sdist(tmp_path: Path, find_links: Path) -> None:
    sdist = build_sdist(DYNAMIC, tmp_path / "dist")
    assert sdist_metadata(sdist, sdist.name) is None  # PEP 643: only a build can tell

    data = prepare_metadata(sdist, sdist.name, find_links, sys.executable, tmp_path / "work")

    assert data == core_metadata(DYNAMIC).encode()
    meta = parse_metadata(data, "built")
    assert meta.requires_dist == ("b>=1", 'c; python_version < "4"', 'd; extra == "x"')
    assert meta.provides_extra == ("x",)


@pytest.mark.slow
@pytest.mark.parametrize("missing", ["tinybackend", "tinyhelper"])
def test_missing_build_requirement_is_named(tmp_path: Path, find_links: Path, missing: str) -> None:
    sdist = build_sdist(DYNAMIC, tmp_path / "dist")
    (find_links / f"{missing}-1.0-py3-none-any.whl").unlink()
    with pytest.raises(BundlerError) as caught:
        prepare_metadata(sdist, sdist.name, find_links, sys.executable, tmp_path / "work")
    first_line = str(caught.value).splitlines()[0]
    assert first_line.startswith(f"dyn-1.0.tar.gz: build requirement {missing}")
    assert str(find_links) in first_line


@pytest.mark.slow
def test_requirements_from_get_requires_for_build_wheel(tmp_path: Path, find_links: Path) -> None:
    spec = DistSpec(
        "dyn",
        "1.0",
        requires=("b",),
        dynamic_metadata=True,
        build_backend="tinybackend",
        wheel_build_requires=("extra-tool>=1",),
    )
    sdist = build_sdist(spec, tmp_path / "dist")
    with pytest.raises(BundlerError) as caught:
        prepare_metadata(sdist, sdist.name, find_links, sys.executable, tmp_path / "w1")
    message = str(caught.value)
    assert "build requirement extra-tool>=1 is not in" in message
    assert "get_requires_for_build_wheel" in message

    # The backend imports what it asked for: success proves it was installed.
    build_wheel(DistSpec("extra-tool", "1.0"), "py3-none-any", find_links)
    data = prepare_metadata(sdist, sdist.name, find_links, sys.executable, tmp_path / "w2")
    assert data == core_metadata(spec).encode()


@pytest.mark.slow
def test_fallback_to_build_wheel_without_prepare_hook(tmp_path: Path) -> None:
    spec = DistSpec("fb", "2.0", requires=("x<3",), dynamic_metadata=True)
    sdist = patch_backend(
        build_sdist(spec, tmp_path / "orig"),
        tmp_path / "dist" / "fb-2.0.tar.gz",
        "del prepare_metadata_for_build_wheel\n",
    )
    data = prepare_metadata(sdist, sdist.name, tmp_path, sys.executable, tmp_path / "work")
    assert data == core_metadata(spec).encode()
    assert len(list((tmp_path / "work" / "wheel").glob("fb-2.0-*.whl"))) == 1


@pytest.mark.slow
def test_backend_failure_shows_the_end_of_its_output(tmp_path: Path) -> None:
    sdist = patch_backend(
        build_sdist(DistSpec("boom", "1.0", dynamic_metadata=True), tmp_path / "orig"),
        tmp_path / "dist" / "boom-1.0.tar.gz",
        "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n"
        "    print('compiling the frobnicator', flush=True)\n"
        "    raise RuntimeError('frobnicator exploded')\n",
    )
    with pytest.raises(BundlerError) as caught:
        prepare_metadata(sdist, sdist.name, tmp_path, sys.executable, tmp_path / "work")
    message = str(caught.value)
    assert message.startswith(
        f"boom-1.0.tar.gz: the build backend '{BACKEND_MODULE}' failed in"
        " prepare_metadata_for_build_wheel"
    )
    assert "compiling the frobnicator" in message
    assert "RuntimeError: frobnicator exploded" in message


@pytest.mark.slow
def test_metadata_must_match_the_sdist(tmp_path: Path) -> None:
    def rename(name: str, data: bytes) -> bytes:
        return data.replace(b"Name: same", b"Name: other") if name.endswith("METADATA") else data

    spec = DistSpec("same", "1.0", dynamic_metadata=True)
    sdist = rewrite_sdist(
        build_sdist(spec, tmp_path / "orig"), tmp_path / "dist" / "same-1.0.tar.gz", rename
    )
    with pytest.raises(InvalidDistribution, match=r"metadata says other 1\.0"):
        prepare_metadata(sdist, sdist.name, tmp_path, sys.executable, tmp_path / "work")


@pytest.mark.slow
def test_timeout_stops_the_backend(tmp_path: Path) -> None:
    sdist = patch_backend(
        build_sdist(DistSpec("slow", "1.0", dynamic_metadata=True), tmp_path / "orig"),
        tmp_path / "dist" / "slow-1.0.tar.gz",
        "import time\n"
        "def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):\n"
        "    time.sleep(120)\n",
    )
    started = time.monotonic()
    with pytest.raises(BundlerError, match="did not finish within 8 seconds"):
        prepare_metadata(sdist, sdist.name, tmp_path, sys.executable, tmp_path / "work", timeout=8)
    assert time.monotonic() - started < 30


def test_malicious_sdist_is_refused_before_any_code_runs(tmp_path: Path) -> None:
    marker = tmp_path / "backend-ran"
    backend = f"open({str(marker)!r}, 'w').close()\n".encode()
    (tmp_path / "dist").mkdir()
    sdist = make_tar_sdist(
        tmp_path / "dist" / "evil-1.0.tar.gz",
        {
            "evil-1.0/PKG-INFO": b"Metadata-Version: 2.1\nName: evil\nVersion: 1.0\n\n",
            "evil-1.0/pyproject.toml": (
                b'[build-system]\nrequires = []\nbuild-backend = "evilbackend"\n'
                b'backend-path = ["."]\n'
            ),
            "evil-1.0/evilbackend.py": backend,
            "evil-1.0/../../planted.txt": b"gotcha",
        },
    )
    work = tmp_path / "a" / "work"
    with pytest.raises(InvalidDistribution, match=r"'\.\.' in path"):
        prepare_metadata(sdist, sdist.name, tmp_path, sys.executable, work)
    assert not marker.exists()
    assert not (tmp_path / "planted.txt").exists()
    assert not (tmp_path / "a" / "planted.txt").exists()
    assert not (work / "env").exists()  # no environment was even created


# A backend that reports, in its metadata, what it could see and reach.
PROBE = """
import json as _json
import urllib.request as _request
import warnings as _warnings

_original_prepare = prepare_metadata_for_build_wheel


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    try:
        with _request.urlopen(PROBE_URL, timeout=5) as reply:
            network = "reached: %s" % reply.status
    except OSError as err:
        network = "unreachable: %s" % err
    _warnings.warn("probe backend says careful", UserWarning)
    dist_info = _original_prepare(metadata_directory, config_settings)
    path = os.path.join(metadata_directory, dist_info, "METADATA")
    with open(path, encoding="utf-8") as fh:
        text = fh.read().rstrip("\\n")
    probe = {"network": network, "env": dict(os.environ), "cwd": os.getcwd()}
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\\nSummary: " + _json.dumps(probe) + "\\n\\n")
    return dist_info
"""


def probe_sdist(tmp_path: Path, url: str) -> Path:
    spec = DistSpec("probe", "1.0", requires=("b",), dynamic_metadata=True)
    return patch_backend(
        build_sdist(spec, tmp_path / "orig"),
        tmp_path / "dist" / "probe-1.0.tar.gz",
        f"PROBE_URL = {url!r}\n{PROBE}",
    )


def probe_result(data: bytes) -> dict[str, object]:
    headers = email.parser.BytesParser().parsebytes(data, headersonly=True)
    result: dict[str, object] = json.loads(headers["Summary"])
    return result


@pytest.mark.slow
def test_backend_sees_a_scrubbed_environment(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server([DistSpec("x", "1.0")])
    sdist = probe_sdist(tmp_path, server.url)
    reporter = RecordingReporter()
    runner_env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        "API_TOKEN": "tok-123",
        "PIP_FIND_LINKS": "/opt/wheels",
        "HTTPS_PROXY": "http://proxy.invalid:3128",
    }
    work = tmp_path / "work"
    data = prepare_metadata(
        sdist, sdist.name, tmp_path, sys.executable, work, runner_env=runner_env, reporter=reporter
    )
    probe = probe_result(data)
    env = probe["env"]
    assert isinstance(env, dict)
    assert "API_TOKEN" not in env
    assert "PIP_FIND_LINKS" not in env
    assert "HTTPS_PROXY" not in env
    assert env["LANG"] == "C.UTF-8"
    assert env["HOME"] == str(work / "home")
    assert env["PIP_CONFIG_FILE"] == os.devnull
    assert str(env["PATH"]).split(os.pathsep)[0] == str(work / "env" / "bin")
    assert probe["cwd"] == str(work / "src" / "probe-1.0")
    # The backend's warning reaches the reporter, not Python's warnings (an
    # error under this test suite's settings), as a detail for -v: a
    # backend's banners are no warning of the run.
    assert [d for d in reporter.details if "probe backend says careful" in d] == [
        "probe-1.0.tar.gz: build backend: probe backend says careful"
    ]
    assert reporter.warnings == []


@needs_netns
@pytest.mark.slow
def test_backend_cannot_reach_the_network(tmp_path: Path, index_server: IndexServerFactory) -> None:
    server = index_server([DistSpec("x", "1.0")])
    sdist = probe_sdist(tmp_path, server.url)

    # Control: without isolation the loopback server answers the backend.
    open_data = prepare_metadata(
        sdist, sdist.name, tmp_path, sys.executable, tmp_path / "open", isolate_network=False
    )
    assert probe_result(open_data)["network"] == "reached: 200"
    assert server.log
    server.log.clear()

    data = prepare_metadata(sdist, sdist.name, tmp_path, sys.executable, tmp_path / "isolated")
    assert str(probe_result(data)["network"]).startswith("unreachable: ")
    assert server.log == []
