"""``bundle lock --exclude-newer``: files uploaded at or after the cut-off
(PEP 700 ``upload-time``), or whose index gives no upload time, as uv does,
are left out."""

from __future__ import annotations

from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import DistSpec, IndexServer, IndexServerFactory, filenames
from tests.support.bundles import lock_pins

OLD = DistSpec("lib", "1.0")
NEW = DistSpec("lib", "2.0")
UNDATED = DistSpec("lib", "3.0")
SPECS = [DistSpec("app", "1.0", requires=("lib",)), OLD, NEW, UNDATED]


def times() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for spec, when in (
        (OLD, "2024-01-01T00:00:00.000000Z"),
        (NEW, "2025-06-01T00:00:00.000000Z"),
        (UNDATED, None),
    ):
        out.update(dict.fromkeys(filenames(spec), when))
    return out


@pytest.fixture
def dated(index_server: IndexServerFactory) -> IndexServer:
    return index_server(SPECS, upload_times=times())


def lock(tmp_path: Path, server: IndexServer, *options: str) -> tuple[int, Path]:
    req = tmp_path / "requirements.in"
    if not req.exists():
        req.write_text("app\n", encoding="utf-8")
    out = tmp_path / "requirements.txt"
    return run(["lock", str(req), "-o", str(out), "-i", server.url, "-q", *options]), out


@pytest.mark.parametrize(
    ("cutoff", "pinned"),
    [
        ("2025-01-01", "1.0"),
        # The cut-off itself is excluded (uv: upload time >= cut-off).
        ("2025-06-01T00:00:00Z", "1.0"),
        ("2025-06-01T02:00:00+02:00", "1.0"),
        ("2025-06-01T00:00:01Z", "2.0"),
        # 3.0 gives no upload time: left out, whatever the cut-off.
        ("2030-01-01", "2.0"),
    ],
)
def test_files_uploaded_after_the_cutoff_are_left_out(
    tmp_path: Path, dated: IndexServer, cutoff: str, pinned: str
) -> None:
    code, out = lock(tmp_path, dated, "--exclude-newer", cutoff)
    assert code == 0
    assert lock_pins(out)["lib"] == pinned
    assert f"--exclude-newer {cutoff}" in out.read_text().split("\n\n", 1)[0]


def test_without_the_option_the_newest_is_taken(tmp_path: Path, dated: IndexServer) -> None:
    code, out = lock(tmp_path, dated)
    assert code == 0
    assert lock_pins(out)["lib"] == "3.0"


def test_nothing_old_enough_says_why(
    tmp_path: Path, dated: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "requirements.in").write_text("lib>=2\n", encoding="utf-8")
    code, out = lock(tmp_path, dated, "--exclude-newer", "2025-01-01")
    assert code == 1
    err = capsys.readouterr().err
    assert "lib 2.0: skipped" in err and "not before --exclude-newer 2025-01-01" in err
    assert "lib 3.0: skipped" in err and "no upload time" in err
    assert not out.exists()


def test_an_html_only_index_gives_no_upload_times(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    server = index_server(SPECS, json=False)
    code, _ = lock(tmp_path, server, "--exclude-newer", "2030-01-01")
    assert code == 1
    assert "PEP 700 upload-time" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["yesterday", "2025-13-01", "2025-06-01T00:00:00"])
def test_a_bad_cutoff_is_a_usage_error(
    tmp_path: Path, dated: IndexServer, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out = lock(tmp_path, dated, "--exclude-newer", value)
    assert code == 2
    assert f"--exclude-newer {value}: not an RFC 3339 timestamp" in capsys.readouterr().err
    assert not out.exists()


def test_a_warm_cache_keeps_upload_times(tmp_path: Path, dated: IndexServer) -> None:
    assert lock(tmp_path, dated)[0] == 0
    pages = dated.hits("/simple/lib/")
    # The page comes from the cache (--page-max-age), its upload times too.
    code, out = lock(tmp_path, dated, "--exclude-newer", "2025-01-01")
    assert code == 0
    assert lock_pins(out)["lib"] == "1.0"
    assert dated.hits("/simple/lib/") == pages


def test_lock_check_notices_a_changed_cutoff(
    tmp_path: Path, dated: IndexServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert lock(tmp_path, dated, "--exclude-newer", "2025-01-01")[0] == 0
    # The same instant, however written, is the same input.
    assert lock(tmp_path, dated, "--check", "--exclude-newer", "2025-01-01T01:00:00+01:00")[0] == 0
    code, _ = lock(tmp_path, dated, "--check", "--exclude-newer", "2025-07-01")
    assert code == 1
    assert "--exclude-newer 2025-07-01T00:00:00+00:00" in capsys.readouterr().err
