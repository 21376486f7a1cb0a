"""What the command line prints, run as users and CI run it: a subprocess
whose stdout and stderr are pipes, not a terminal."""

from __future__ import annotations

import io
import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from bundler.cli.console import ConsoleReporter, print_report
from bundler.gate.report import CheckResult, Problem, VerifyReport
from tests.support import DistSpec, IndexServerFactory
from tests.support.indexserver import Reply

SECRET = "s3cr3t-pw"


def bundle(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``bundle ARGS`` with pipes for stdout and stderr and no terminal width set."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES", "FORCE_COLOR")}
    return subprocess.run(
        [sys.executable, "-m", "bundler", *args],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=cwd,
        env=env,
    )


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


# --- no internal errors ------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "shown", "reason"),
    [
        # A URL that does not split loses its whole user part in messages.
        (f"http://alice:{SECRET}@[::1/simple/", "http://***@[::1/simple/", "invalid IPv6 URL"),
        (
            f"http://alice:{SECRET}@127.0.0.1:99999/simple/",
            "http://alice:***@127.0.0.1:99999/simple/",
            "port out of range 0-65535",
        ),
        (
            f"http://alice:{SECRET}@[fe80::zz]/simple/",
            "http://***@[fe80::zz]/simple/",
            "'fe80::zz' does not appear",
        ),
    ],
)
def test_a_malformed_index_url_is_a_usage_error_naming_where(
    tmp_path: Path, url: str, shown: str, reason: str
) -> None:
    req = write(tmp_path / "requirements.in", "six\n")
    out = str(tmp_path / "out.txt")
    for args, where in [
        (["-i", url], f"--index-url {shown}: {reason}"),
        (["--extra-index-url", url], f"--extra-index-url {shown}: {reason}"),
        (["-f", url], f"--find-links {shown}: {reason}"),
    ]:
        proc = bundle("lock", str(req), "-o", out, *args)
        assert proc.returncode == 2, proc.stderr
        assert f"error: {where}" in proc.stderr
        assert "internal error" not in proc.stderr
        assert SECRET not in proc.stderr

    in_file = write(tmp_path / "indexed.in", f"--extra-index-url {url}\nsix\n")
    proc = bundle("lock", str(in_file), "-o", out)
    assert proc.returncode == 2, proc.stderr
    assert f"error: {in_file}:1: --extra-index-url {shown}: {reason}" in proc.stderr
    assert SECRET not in proc.stderr

    write(
        tmp_path / "bundle.toml",
        f'index-url = "{url}"\n[[index]]\nname = "private"\nurl = "{url}"\n',
    )
    proc = bundle("lock", str(req), "-o", out, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert f"bundle.toml: index-url: {shown}: {reason}" in proc.stderr
    assert f"bundle.toml: index[0].url {shown}: {reason}" in proc.stderr
    assert "internal error" not in proc.stderr
    assert SECRET not in proc.stderr


def test_a_malformed_url_in_a_pylock_is_a_usage_error(tmp_path: Path) -> None:
    wheel = "six-1.16.0-py2.py3-none-any.whl"
    write(
        tmp_path / "pylock.toml",
        'lock-version = "1.0"\ncreated-by = "x"\n[[packages]]\nname = "six"\n'
        'version = "1.16.0"\n[[packages.wheels]]\n'
        f'name = "{wheel}"\nurl = "http://alice:{SECRET}@127.0.0.1:99999/{wheel}"\n'
        f'hashes = {{sha256 = "{"0" * 64}"}}\nsize = 1\n',
    )
    proc = bundle("download", str(tmp_path / "pylock.toml"), "-o", str(tmp_path / "pypi"))
    assert proc.returncode == 2, proc.stderr
    assert (
        f"pylock.toml:3: six: http://alice:***@127.0.0.1:99999/{wheel}: port out of range 0-65535"
    ) in proc.stderr
    assert SECRET not in proc.stderr


def test_a_deeply_nested_index_page_is_an_error_not_a_crash(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server([DistSpec("app", "1.0")])
    server.config.overrides["/simple/app/"] = Reply(
        200, {"Content-Type": "application/octet-stream"}, b"[" * 100_000
    )
    req = write(tmp_path / "requirements.in", "app\n")
    proc = bundle("lock", str(req), "-o", str(tmp_path / "out.txt"), "-i", server.url)
    assert proc.returncode == 1, proc.stderr
    assert f"error: {server.url}app/: invalid JSON: nested too deeply" in proc.stderr
    assert "internal error" not in proc.stderr


# --- bracketed text is printed as it is --------------------------------------------


def test_extras_in_a_conflict_are_printed(tmp_path: Path, index_server: IndexServerFactory) -> None:
    server = index_server(
        [
            DistSpec("kombu", "5.7.0", extras={"redis": ("redis<5",)}),
            DistSpec("redis", "4.0"),
            DistSpec("redis", "5.0"),
        ]
    )
    req = write(tmp_path / "requirements.in", "kombu[redis]==5.7.0\nredis>=5\n")
    proc = bundle("lock", str(req), "-o", str(tmp_path / "out.txt"), "-i", server.url)
    assert proc.returncode == 1, proc.stderr
    assert "kombu[redis]==5.7.0 depends on redis<5" in proc.stderr


def _report() -> VerifyReport:
    target = "cp311-manylinux_2_36_x86_64"
    wheel = (
        "files/charset_normalizer-3.5.3-cp311-cp311-manylinux_2_17_x86_64"
        ".manylinux2014_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl"
    )
    return VerifyReport(
        (
            CheckResult("integrity", None, "failed", (Problem("integrity", wheel, "missing"),)),
            CheckResult(
                "reality",
                target,
                "failed",
                (Problem("reality", "future", "no [bold]wheel[/bold] for it", target),),
                details=f"pip 24.2 [{target}]",
            ),
        )
    )


REPORT_PROBLEMS = [
    "✗ integrity: files/charset_normalizer-3.5.3-cp311-cp311-manylinux_2_17_x86_64"
    ".manylinux2014_x86_64.manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl: missing",
    "✗ reality [cp311-manylinux_2_36_x86_64]: future: no [bold]wheel[/bold] for it",
]


def test_a_report_in_a_log_is_plain_whole_lines(capsys: pytest.CaptureFixture[str]) -> None:
    reporter = ConsoleReporter(quiet=False)
    assert reporter.plain  # captured: not a terminal
    print_report(_report(), reporter)
    assert capsys.readouterr().err.splitlines() == [
        "failed integrity (all targets)",
        "failed reality (cp311-manylinux_2_36_x86_64): pip 24.2 [cp311-manylinux_2_36_x86_64]",
        *REPORT_PROBLEMS,
        "FAIL",
    ]


def test_a_report_on_a_terminal_keeps_its_brackets() -> None:
    from rich.console import Console

    screen = io.StringIO()
    reporter = ConsoleReporter(quiet=False, console=Console(file=screen, width=300))
    reporter.plain = False
    print_report(_report(), reporter)
    reporter.warning("pinned kombu[redis]==5.7.0 (PyYAML-5.3.1.tar.gz [build-system])")
    lines = screen.getvalue().splitlines()
    for expected in REPORT_PROBLEMS:
        assert expected in lines
    assert any("pip 24.2 [cp311-manylinux_2_36_x86_64]" in line for line in lines)
    assert "warning: pinned kombu[redis]==5.7.0 (PyYAML-5.3.1.tar.gz [build-system])" in lines


def test_a_progress_bar_keeps_its_brackets() -> None:
    from rich.console import Console

    screen = io.StringIO()
    reporter = ConsoleReporter(quiet=False, console=Console(file=screen, force_terminal=True))
    reporter.plain = False
    reporter.task_start("k", "files/kombu[redis]-5.7.0.tar.gz", 10)
    reporter.task_advance("k", 5)
    reporter.close()
    assert "files/kombu[redis]-5.7.0.tar.gz" in screen.getvalue()


# --- nothing wrapped or cut in a log ------------------------------------------------

LONG = DistSpec(
    "charset_normalizer",
    "3.5.3",
    wheel_tags=(
        "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
        ".manylinux_2_28_x86_64.manylinux_2_5_x86_64",
    ),
    sdist=False,
)
LONG_WHEEL = (
    "charset_normalizer-3.5.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64"
    ".manylinux_2_28_x86_64.manylinux_2_5_x86_64.whl"
)


def test_a_log_has_whole_names_one_problem_a_line(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server([LONG])
    req = write(tmp_path / "requirements.in", "charset-normalizer\n")
    pypi = tmp_path / "pypi"
    target = ["--python-version", "3.11", "--platform", "manylinux_2_36_x86_64"]
    built = bundle("build", str(req), "-o", str(pypi), "-i", server.url, *target, "--no-install")
    assert built.returncode == 0, built.stderr
    assert f"{pypi}: 1 files" in built.stderr

    served = subprocess.Popen(
        [sys.executable, "-m", "bundler", "serve", str(pypi), "--port", "0"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={k: v for k, v in os.environ.items() if k != "COLUMNS"},
    )
    try:
        assert served.stderr is not None
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", served.stderr.readline())
        assert match
        with urllib.request.urlopen(f"{match[1]}files/{LONG_WHEEL}", timeout=10) as resp:
            resp.read()
        logged = served.stderr.readline()  # written once the request is answered
        served.send_signal(signal.SIGINT)
        served.communicate(timeout=10)
    finally:
        if served.poll() is None:
            served.kill()
    assert f"GET /files/{LONG_WHEEL} 200" in logged

    (pypi / "files" / LONG_WHEEL).unlink()

    proc = bundle("verify", str(pypi), "--no-install")
    assert proc.returncode == 1
    lines = proc.stderr.splitlines()
    assert any(line.startswith("✗ ") and f"files/{LONG_WHEEL}" in line for line in lines), lines
    assert any("cp311-manylinux_2_36_x86_64" in line for line in lines), lines
    assert all(
        "cp311-manylinux_2_36_x86_64" in line for line in lines if "cp311-manylinux_2_3" in line
    )
    assert "closure (cp311-manylinux_2_36_x86_64): " in proc.stderr
    assert lines[-1] == "FAIL"


# --- true explanations -------------------------------------------------------------


def test_releases_with_a_usable_file_are_not_said_skipped(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    two_tags = ("py27-none-any", "py3-none-any")
    server = index_server(
        [
            DistSpec("requests", "2.32.3", extras={"socks": ("PySocks>=1.5.6,!=1.5.7",)}),
            DistSpec("PySocks", "1.5.8", wheel_tags=("py27-none-any",), requires_python=">=4"),
            DistSpec("PySocks", "1.7.0", wheel_tags=two_tags),
            DistSpec("PySocks", "1.7.1", wheel_tags=two_tags),
        ]
    )
    req = write(tmp_path / "requirements.in", "-c constraints.txt\nrequests[socks]==2.32.3\n")
    write(tmp_path / "constraints.txt", "pysocks==1.0\n")
    target = ["--python-version", "3.11", "--platform", "manylinux_2_36_x86_64"]
    proc = bundle("lock", str(req), "-o", str(tmp_path / "out.txt"), "-i", server.url, *target)
    assert proc.returncode == 1, proc.stderr
    tail = proc.stderr.splitlines()[-5:]
    assert tail == [
        "no version of pysocks satisfies every requirement:",
        "  - requests[socks]==2.32.3 depends on PySocks!=1.5.7,>=1.5.6",
        "  - pysocks versions usable on cp311-manylinux_2_36_x86_64: 1.7.0, 1.7.1",
        "  - pysocks 1.5.8: skipped, sdist: requires Python >=4 (target has 3.11.0);"
        " wheel: no compatible wheel tag for cp311-manylinux_2_36_x86_64",
        f"  - constraint: pysocks==1.0 ({tmp_path / 'constraints.txt'}:1)",
    ]


# --- yanked releases (PEP 592) -----------------------------------------------------


def test_yanked_releases_are_named_and_pinning_one_warns(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server([DistSpec("lib", "1.0"), DistSpec("lib", "2.0", yanked="broken build")])
    target = ["--python-version", "3.11", "--platform", "manylinux_2_36_x86_64"]
    pinned = write(tmp_path / "pinned.in", "lib==2.0\n")
    proc = bundle("lock", str(pinned), "-o", str(tmp_path / "a.txt"), "-i", server.url, *target)
    assert proc.returncode == 0, proc.stderr
    assert (
        "warning: lib 2.0 is yanked (reason: broken build): locked because it is pinned"
        f" with == (via -r {pinned})"
    ) in proc.stderr.splitlines()
    assert "lib==2.0" in (tmp_path / "a.txt").read_text()

    ranged = write(tmp_path / "ranged.in", "lib>=2\n")
    proc = bundle("lock", str(ranged), "-o", str(tmp_path / "b.txt"), "-i", server.url, *target)
    assert proc.returncode == 1, proc.stderr
    assert (
        "  - lib versions usable on cp311-manylinux_2_36_x86_64: 1.0, 2.0 (yanked: broken build)"
    ) in proc.stderr.splitlines()
    assert "is yanked" not in proc.stderr
