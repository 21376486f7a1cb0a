"""``bundle lock`` reads pip's PIP_INDEX_URL, PIP_EXTRA_INDEX_URL and
PIP_FIND_LINKS as pip-compile does; the command line and requirements files
win, and nothing else (download, the gate) reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundler.cli.config import PipEnvironment, pip_environment, under_pip_environment
from bundler.cli.main import run
from bundler.models import IndexSettings
from tests.support import DistFactory, DistSpec, IndexServerFactory

SECRET = "env-s3cr3t"
WEBAPP = DistSpec("webapp", "1.0", requires=("util",))
UTIL = DistSpec("util", "2.0")


def lock(tmp_path: Path, requirements: str, *args: str) -> tuple[int, str, str]:
    """``bundle lock`` in process: (exit code, lock text, error)."""
    req = tmp_path / "requirements.in"
    req.write_text(requirements, encoding="utf-8")
    out = tmp_path / "requirements.txt"
    out.unlink(missing_ok=True)
    report = tmp_path / "report.json"
    code = run(["lock", str(req), "-o", str(out), "--quiet", "--json", str(report), *args])
    text = out.read_text(encoding="utf-8") if out.exists() else ""
    return code, text, str(json.loads(report.read_text(encoding="utf-8")).get("error", ""))


def test_pip_index_url_is_read_and_named_in_the_header(
    index_server: IndexServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = index_server([WEBAPP, UTIL], auth=("alice", SECRET))
    monkeypatch.setenv("PIP_INDEX_URL", server.url_with_auth())
    code, text, error = lock(tmp_path, "webapp\n")
    assert code == 0, error
    assert "util==2.0" in text
    assert f"# index: {server.url} (from PIP_INDEX_URL)\n" in text
    assert f"--index-url {server.url}\n" in text
    assert SECRET not in text


def test_pip_extra_index_url_and_find_links_are_read(
    index_server: IndexServerFactory,
    dist_factory: DistFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    main = index_server([WEBAPP])
    extra = index_server([DistSpec("util", "1.0")])
    links = dist_factory([UTIL])
    monkeypatch.setenv("PIP_EXTRA_INDEX_URL", f"  {extra.url}  ")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    code, text, error = lock(
        tmp_path, "webapp\n", "-i", main.url, "--index-strategy", "unsafe-best-match"
    )
    assert code == 0, error
    assert "util==2.0" in text  # from the find-links directory, newer than the extra index's
    assert extra.log  # the extra index was asked too
    assert f"# extra index: {extra.url} (from PIP_EXTRA_INDEX_URL)\n" in text
    assert f"# find-links: {links} (from PIP_FIND_LINKS)\n" in text
    assert "(from PIP_INDEX_URL)" not in text  # the command line gave the index


def test_the_command_line_and_the_requirements_file_win_over_pip_index_url(
    index_server: IndexServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ambient = index_server([WEBAPP, DistSpec("util", "1.0")])
    wanted = index_server([WEBAPP, UTIL])
    monkeypatch.setenv("PIP_INDEX_URL", ambient.url)
    code, text, error = lock(tmp_path, "webapp\n")
    assert code == 0, error
    assert "util==1.0" in text  # nothing else named an index
    ambient.log.clear()
    code, text, error = lock(tmp_path, f"--index-url {wanted.url}\nwebapp\n")
    assert code == 0, error
    assert "util==2.0" in text
    code, text, error = lock(tmp_path, "webapp\n", "-i", wanted.url)
    assert code == 0, error
    assert "util==2.0" in text
    # Two files, the second naming the index: still the file's.
    (tmp_path / "more.in").write_text(f"--index-url {wanted.url}\nutil\n")
    report = tmp_path / "two.json"
    out = tmp_path / "two.txt"
    args = ["lock", str(tmp_path / "requirements.in"), str(tmp_path / "more.in"), "-o", str(out)]
    assert run([*args, "--quiet", "--json", str(report)]) == 0, report.read_text()
    assert "util==2.0" in out.read_text()
    assert ambient.log == []
    assert "PIP_INDEX_URL" not in text + out.read_text()


def test_download_does_not_read_pip_index_url(
    index_server: IndexServerFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked_from = index_server([WEBAPP, UTIL])
    elsewhere = index_server([WEBAPP, UTIL])
    code, _, error = lock(tmp_path, "webapp\n", "-i", locked_from.url)
    assert code == 0, error
    monkeypatch.setenv("PIP_INDEX_URL", elsewhere.url)
    monkeypatch.setenv("PIP_FIND_LINKS", str(tmp_path / "nowhere"))
    lock_file = str(tmp_path / "requirements.txt")
    assert run(["download", lock_file, "-o", str(tmp_path / "pypi"), "--quiet"]) == 0
    assert elsewhere.log == []


def test_pip_environment_is_read_as_pip_reads_it() -> None:
    env = pip_environment(
        {
            "PIP_INDEX_URL": " https://mirror.example/simple/ ",
            "PIP_EXTRA_INDEX_URL": "https://a.example/simple/\n https://b.example/simple/",
            "PIP_FIND_LINKS": "",
        }
    )
    assert env == PipEnvironment(
        "https://mirror.example/simple/",
        ("https://a.example/simple/", "https://b.example/simple/"),
        (),
    )
    # --no-index in a requirements file drops every index URL, the
    # environment's too; find-links stay.
    files = IndexSettings(index_url=None, find_links=("./dist",))
    env = PipEnvironment("https://m/simple/", ("https://a/simple/",), ("/wheels",))
    settings, origins = under_pip_environment(files, True, env)
    assert settings.index_url is None and settings.extra_index_urls == ()
    assert settings.find_links == ("/wheels", "./dist")
    assert origins == {"/wheels": "PIP_FIND_LINKS"}
