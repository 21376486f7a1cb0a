"""``bundle lock --check`` and ``bundle verify --check-inputs``: a lock (or a
bundle) compared with the inputs it was made from."""

from __future__ import annotations

import json
import shlex
from pathlib import Path
from typing import Any

import pytest

from bundler.cli.main import run
from bundler.lock.check import (
    Difference,
    Line,
    compare,
    make_inputs,
    normalize_requirement,
    read_recorded,
    render_header_lines,
    render_pylock_table,
)
from tests.support import DistSpec, IndexServerFactory

PROJECTS = [
    DistSpec("webapp", "1.0", requires=("framework>=1",)),
    DistSpec("framework", "1.0"),
    DistSpec("framework", "2.0"),
    DistSpec("framework", "3.0b1"),
    DistSpec("helper", "1.0"),
]


@pytest.fixture
def index_url(index_server: IndexServerFactory) -> str:
    return str(index_server(PROJECTS).url)


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def without_record(text: str) -> str:
    """A lock as ``bundle lock`` wrote it before locks recorded their inputs:
    the ``# inputs:`` block and the ``#`` line closing it left out."""
    lines = text.splitlines(keepends=True)
    start = next(i for i, x in enumerate(lines) if x.startswith("# inputs: sha256="))
    end = next(i for i in range(start, len(lines)) if lines[i] == "#\n")
    return "".join(lines[:start] + lines[end + 1 :])


class Locked:
    """A requirements.in and the lock made from it, for checking again."""

    def __init__(self, tmp_path: Path, index_url: str, name: str = "requirements.txt") -> None:
        self.req = write(tmp_path / "requirements.in", "webapp\nframework<3\n")
        self.lock = tmp_path / name
        self.index_url = index_url
        assert self.run("lock") == 0
        self.bytes = self.lock.read_bytes()
        self.mtime = self.lock.stat().st_mtime_ns

    def run(self, command: str, *extra: str) -> int:
        args = [command, str(self.req), "-o", str(self.lock), "-i", self.index_url, *extra]
        return run([*args, "-q"])

    def check(self, *extra: str) -> int:
        code = self.run("lock", "--check", *extra)
        assert self.lock.read_bytes() == self.bytes  # --check writes nothing
        assert self.lock.stat().st_mtime_ns == self.mtime
        return code


# --- the record -------------------------------------------------------------------------


def test_requirements_are_recorded_in_one_spelling() -> None:
    assert normalize_requirement("Requests [socks]  >= 2 ; python_version<'4'") == (
        'requests[socks]>=2; python_version < "4"'
    )
    assert normalize_requirement("${PKG}  >=1") == "${PKG} >=1"  # kept, collapsed


def test_header_record_reads_back_with_its_lines() -> None:
    inputs = make_inputs(
        [Line("webapp", "requirements.in", 1)],
        [Line("framework<3", "constraints.txt", 4)],
        ["t1"],
        ["--pre"],
    )
    text = "\n".join(
        ["#", "# targets: t1", "#", *render_header_lines(inputs.record), "#", "webapp==1.0"]
    )
    recorded = read_recorded(text + "\n", "requirements.txt", pylock=False)
    assert recorded is not None
    assert recorded.record == inputs.record
    assert recorded.stated_digest == inputs.record.digest
    assert recorded.where[("constraint", "framework<3")] == ("requirements.txt", 6)
    assert compare(recorded, inputs) == []


def test_pylock_record_reads_back_with_its_lines() -> None:
    inputs = make_inputs([Line("b", "r.in", 2), Line("a", "r.in", 1)], [], ["t1"], [])
    text = 'lock-version = "1.0"\n' + render_pylock_table(inputs.record)
    recorded = read_recorded(text, "pylock.toml", pylock=True)
    assert recorded is not None
    assert recorded.record == inputs.record
    assert recorded.where[("requirement", "a")] == ("pylock.toml", 6)
    assert recorded.where[("requirement", "b")] == ("pylock.toml", 7)


def test_a_changed_line_is_one_difference_located_in_the_input() -> None:
    old = make_inputs([Line("framework<3", "lock", 9), Line("gone", "lock", 10)], [], [], [])
    new = make_inputs([Line("framework<4", "r.in", 2)], [], [], [])
    assert compare(old, new) == [
        Difference("requirement changed: framework<3 in the lock, framework<4 now", "r.in", 2),
        Difference("requirement removed: gone", "lock", 10),
    ]


def test_a_record_edited_by_hand_is_a_difference() -> None:
    text = "\n".join(["# inputs: sha256=" + "0" * 64, "#   requirement: webapp", "webapp==1.0", ""])
    recorded = read_recorded(text, "requirements.txt", pylock=False)
    assert recorded is not None
    current = make_inputs([Line("webapp", "r.in", 1)], [], [], [])
    [difference] = compare(recorded, current)
    assert difference.line == 1
    assert "edited by hand" in difference.message


# --- bundle lock --check ----------------------------------------------------------------


def test_check_passes_on_a_fresh_lock_and_writes_nothing(tmp_path: Path, index_url: str) -> None:
    locked = Locked(tmp_path, index_url)
    assert "# inputs: sha256=" in locked.lock.read_text()
    assert locked.check() == 0


def test_check_names_a_requirement_added(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = Locked(tmp_path, index_url)
    write(locked.req, "webapp\nframework<3\nhelper\n")
    assert locked.check() == 1
    err = capsys.readouterr().err
    assert f"{locked.lock} does not match its inputs" in err
    assert f"{locked.req}:3: requirement added: helper" in err


def test_check_names_a_requirement_changed_and_one_removed(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = Locked(tmp_path, index_url)
    write(locked.req, "framework<2\n")
    assert locked.check() == 1
    err = capsys.readouterr().err
    assert f"{locked.req}:1: requirement changed: framework<3 in the lock, framework<2 now" in err
    line = locked.lock.read_text().splitlines().index("#   requirement: webapp") + 1
    assert f"{locked.lock}:{line}: requirement removed: webapp" in err


def test_check_names_a_target_added(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = Locked(tmp_path, index_url)
    assert locked.check("--platform", "win_amd64", "--python-version", "3.12") == 1
    assert "target added: cp312-win_amd64" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "named"),
    [
        (("--pre",), "option added: --pre"),
        (("--only-binary", ":all:"), "option added: --only-binary :all:"),
        (("--prefer-binary",), "option added: --prefer-binary"),
        (("--extra-index-url", "http://127.0.0.1:9/simple/"), "option added: --extra-index-url"),
    ],
)
def test_check_names_an_option_changed(
    tmp_path: Path,
    index_url: str,
    capsys: pytest.CaptureFixture[str],
    option: tuple[str, ...],
    named: str,
) -> None:
    locked = Locked(tmp_path, index_url)
    assert locked.check(*option) == 1
    assert named in capsys.readouterr().err


def test_check_ignores_credentials_and_records_none(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(PROJECTS)
    with_secret = str(server.url).replace("http://", "http://ci:s3cret@")
    locked = Locked(tmp_path, with_secret)
    assert "s3cret" not in locked.lock.read_text()
    locked.index_url = str(server.url).replace("http://", "http://ci:other@")
    assert locked.check() == 0


def test_check_a_pylock(tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    locked = Locked(tmp_path, index_url, "pylock.toml")
    assert "[tool.bundle.inputs]" in locked.lock.read_text()
    assert locked.check() == 0
    write(locked.req, "webapp\n")
    assert locked.check() == 1
    err = capsys.readouterr().err
    lines = locked.lock.read_text().splitlines()
    line = lines.index('    "framework<3",') + 1
    assert f"{locked.lock}:{line}: requirement removed: framework<3" in err
    # The lock with its record is still a valid PEP 751 lock for download.
    assert run(["download", str(locked.lock), "-o", str(tmp_path / "pypi"), "-q"]) == 0


def test_check_a_lock_without_a_record_resolves_again(
    tmp_path: Path, index_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = Locked(tmp_path, index_url)
    old = without_record(locked.lock.read_text())
    write(locked.lock, old)
    locked.bytes, locked.mtime = locked.lock.read_bytes(), locked.lock.stat().st_mtime_ns
    # framework<3 still admits the locked 2.0: the pins still fit.
    write(locked.req, "webapp\nframework\n")
    assert locked.check() == 0
    write(locked.req, "webapp\nframework<2\n")
    assert locked.check() == 1
    pin = next(i for i, x in enumerate(old.splitlines(), 1) if x.startswith("framework=="))
    err = capsys.readouterr().err
    assert f"{locked.lock}:{pin}: pin changed: framework 2.0 in the lock, 1.0 now" in err


def test_check_json_lists_the_differences(tmp_path: Path, index_url: str) -> None:
    locked = Locked(tmp_path, index_url)
    write(locked.req, "webapp\nframework<3\nhelper\n")
    report = tmp_path / "check.json"
    assert locked.check("--json", str(report)) == 1
    data = json.loads(report.read_text())
    assert data["matches"] is False
    assert data["differences"] == [
        {"message": "requirement added: helper", "file": str(locked.req), "line": 3}
    ]


def test_check_needs_a_lock_file(tmp_path: Path, index_url: str) -> None:
    req = write(tmp_path / "requirements.in", "webapp\n")
    missing = tmp_path / "requirements.txt"
    assert run(["lock", "--check", str(req), "-o", str(missing), "-i", index_url, "-q"]) == 2
    assert not missing.exists()
    assert run(["lock", "--check", str(req), "-o", "-", "-i", index_url, "-q"]) == 2


# --- bundle verify --check-inputs -------------------------------------------------------


@pytest.fixture
def built(tmp_path: Path, index_url: str) -> tuple[Path, Path]:
    req = write(tmp_path / "requirements.in", "webapp\nframework<3\n")
    bundle = tmp_path / "pypi"
    assert run(["build", str(req), "-o", str(bundle), "-i", index_url, "-q", "--no-install"]) == 0
    return req, bundle


def test_verify_check_inputs_passes_for_the_inputs_of_the_bundle(
    built: tuple[Path, Path],
) -> None:
    req, bundle = built
    assert run(["verify", str(bundle), "--no-install", "--check-inputs", str(req), "-q"]) == 0


def test_verify_check_inputs_fails_naming_the_change(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    req, bundle = built
    write(req, "webapp\nframework<2\n")
    report = tmp_path / "verify.json"
    args = ["verify", str(bundle), "--no-install", "--check-inputs", str(req)]
    assert run([*args, "--json", str(report), "-q"]) == 1
    [inputs] = [r for r in json.loads(report.read_text())["results"] if r["check"] == "inputs"]
    assert inputs["status"] == "failed"
    assert inputs["problems"][0]["subject"] == f"{req}:2"
    assert inputs["problems"][0]["message"] == (
        "requirement changed: framework<3 in the lock, framework<2 now"
    )


def test_verify_check_inputs_compares_targets_when_given(
    built: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    req, bundle = built
    args = ["verify", str(bundle), "--no-install", "--check-inputs", str(req)]
    assert run([*args, "--platform", "win_amd64", "--python-version", "3.12", "-q"]) == 1
    assert "target added: cp312-win_amd64" in capsys.readouterr().err


def test_verify_check_inputs_with_a_missing_file_is_a_usage_error(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    _, bundle = built
    missing = str(tmp_path / "nope.in")
    assert run(["verify", str(bundle), "--no-install", "--check-inputs", missing, "-q"]) == 2


@pytest.mark.parametrize("name", ["requirements.txt", "pylock.toml"])
def test_a_bundle_downloaded_from_a_lock_carries_its_inputs(
    tmp_path: Path, index_url: str, name: str
) -> None:
    locked = Locked(tmp_path, index_url, name)
    assert locked.check() == 0
    bundle = tmp_path / "pypi"
    assert run(["download", str(locked.lock), "-o", str(bundle), "-q"]) == 0
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert manifest["requirements"] == ["framework<3", "webapp"]
    check = ["verify", str(bundle), "--no-install", "--check-inputs", str(locked.req), "-q"]
    assert run(check) == 0
    write(locked.req, "webapp\nframework<4\n")
    assert run(check) == 1


def test_a_record_edited_by_hand_is_not_carried_into_a_bundle(
    tmp_path: Path, index_url: str
) -> None:
    locked = Locked(tmp_path, index_url)
    write(locked.lock, locked.lock.read_text().replace("#   requirement: webapp\n", ""))
    bundle = tmp_path / "pypi"
    assert run(["download", str(locked.lock), "-o", str(bundle), "-q"]) == 0
    assert json.loads((bundle / "bundle.json").read_text())["requirements"] == []


def test_no_annotations_outside_github_actions(
    tmp_path: Path,
    index_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GITHUB_ACTIONS", raising=False)
    locked = Locked(tmp_path, index_url)
    write(locked.req, "helper\n")
    assert locked.check() == 1
    assert capsys.readouterr().out == ""


def test_a_lock_without_a_record_is_resolved_from_the_index_when_not_cached(
    tmp_path: Path, index_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    locked = Locked(tmp_path, index_url)
    write(locked.lock, without_record(locked.lock.read_text()))
    locked.bytes, locked.mtime = locked.lock.read_bytes(), locked.lock.stat().st_mtime_ns
    monkeypatch.setenv("BUNDLER_CACHE_DIR", str(tmp_path / "empty-cache"))
    assert locked.check("--offline") == 1  # nothing cached, and no network allowed
    assert locked.check() == 0  # the index answers what the cache cannot


# --- the lock itself, edited by hand ----------------------------------------------------

EDITED = [
    DistSpec("six", "1.16.0"),
    DistSpec("six", "1.17.0"),
    DistSpec("idna", "3.7"),
    DistSpec("idna", "3.10"),
    DistSpec("helper", "1.0"),
]


class FlatLocked:
    """``six`` and a marked ``idna`` locked from a find-links directory."""

    def __init__(self, tmp_path: Path, dists: Path) -> None:
        self.req = write(tmp_path / "req.in", 'six\nidna<3.8 ; python_version >= "3.8"\n')
        self.lock = tmp_path / "req.txt"
        self.dists = dists
        assert self.run() == 0
        self.text = self.lock.read_text()

    def run(self, *extra: str) -> int:
        args = [str(self.req), "-o", str(self.lock), "--no-index", "-f", str(self.dists)]
        return run(["lock", *extra, *args, "-q"])

    def line(self, start: str) -> int:
        return next(i for i, x in enumerate(self.text.splitlines(), 1) if x.startswith(start))

    def pin_lines(self, name: str) -> tuple[list[str], int]:
        lines = self.text.splitlines(keepends=True)
        return lines, self.line(f"{name}==") - 1


def _downgraded(locked: FlatLocked) -> str:
    return locked.text.replace("six==1.17.0", "six==1.16.0")  # the hashes of 1.17.0 kept


def _hash_changed(locked: FlatLocked) -> str:
    lines, at = locked.pin_lines("six")
    prefix = "    --hash=sha256:"
    lines[at + 1] = prefix + "0000" + lines[at + 1][len(prefix) + 4 :]
    return "".join(lines)


def _hash_deleted(locked: FlatLocked) -> str:
    lines, at = locked.pin_lines("six")
    lines[at + 1] = lines[at + 1].replace(" \\\n", "\n")
    del lines[at + 2]
    return "".join(lines)


def _entry_removed(locked: FlatLocked) -> str:
    lines, at = locked.pin_lines("idna")
    return "".join(lines[:at] + lines[at + 4 :])


def _entry_added(locked: FlatLocked) -> str:
    return locked.text + "helper==1.0 \\\n    --hash=sha256:" + "ab" * 32 + "\n"


def _marker_added(locked: FlatLocked) -> str:
    return locked.text.replace("six==1.17.0 \\", 'six==1.17.0 ; python_version >= "3" \\')


def _pre_added(locked: FlatLocked) -> str:
    return locked.text + "--pre\n"


def _find_links_deleted(locked: FlatLocked) -> str:
    return locked.text.replace(f"\n--find-links {locked.dists}\n", "\n")


@pytest.mark.parametrize(
    ("edit", "first"),
    [
        (_downgraded, "the lock has `    --hash=sha256:"),
        (_hash_changed, "the lock has `    --hash=sha256:0000"),
        (_hash_deleted, "the lock has `    --hash=sha256:"),
        (_entry_removed, "the lock lacks `idna==3.7 \\`"),
        (_entry_added, "the lock has `helper==1.0 \\`; bundle lock writes no such line"),
        (_marker_added, 'the lock has `six==1.17.0 ; python_version >= "3" \\`'),
        (_pre_added, "the lock has `--pre`; bundle lock writes no such line"),
        (_find_links_deleted, "the lock lacks `--find-links "),
    ],
    ids=lambda v: getattr(v, "__name__", "")[1:],
)
def test_check_fails_on_a_lock_edited_by_hand(
    tmp_path: Path,
    dist_factory: Any,
    capsys: pytest.CaptureFixture[str],
    edit: Any,
    first: str,
) -> None:
    locked = FlatLocked(tmp_path, dist_factory(EDITED))
    assert locked.run("--check") == 0
    edited = edit(locked)
    assert edited != locked.text
    write(locked.lock, edited)
    capsys.readouterr()
    assert locked.run("--check") == 1
    assert locked.lock.read_text() == edited  # --check writes nothing
    err = capsys.readouterr().err
    # The first differing line of the lock, by number, as the lock has it.
    old, new = locked.text.splitlines(), edited.splitlines()
    pairs = enumerate(zip(old, new, strict=False))
    at = next((i for i, (a, b) in pairs if a != b), len(old)) + 1
    assert f"{locked.lock}:" in err
    [named] = [x for x in err.splitlines() if x.startswith(f"  {locked.lock}:")][:1]
    line = int(named[len(f"  {locked.lock}:") :].partition(":")[0])
    assert at <= line <= at + 1
    assert first in named
    # Re-locking as the hint says makes the lock match again.
    assert locked.run() == 0
    assert locked.run("--check") == 0


def test_check_fails_on_a_lock_without_a_record_edited_by_hand(
    tmp_path: Path, dist_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = FlatLocked(tmp_path, dist_factory(EDITED))
    locked.text = without_record(locked.text)
    write(locked.lock, locked.text)
    assert locked.run("--check") == 0
    # 1.16.0 fits the inputs and stays preferred; its hashes are 1.17.0's.
    write(locked.lock, _downgraded(locked))
    assert locked.run("--check") == 1
    pin = locked.line("six==")
    assert f"{locked.lock}:{pin + 1}: the lock has `    --hash=sha256:" in capsys.readouterr().err


def test_check_reads_only_what_pip_reads_of_a_lock_by_another_tool(
    tmp_path: Path, dist_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = FlatLocked(tmp_path, dist_factory(EDITED))
    # pip-compile's own header and annotations around the same pins.
    body = without_record(locked.text).split("\n--no-index", 1)[1]
    other = (
        "#\n# This file is autogenerated by pip-compile with Python 3.12\n"
        "# by the following command:\n#\n#    pip-compile --generate-hashes req.in\n#\n"
        "--no-index" + body.replace("# via -r", "#   via\n    #   -r")
    )
    write(locked.lock, other)
    assert locked.run("--check") == 0
    write(locked.lock, other.replace(f"--find-links {locked.dists}\n", ""))
    assert locked.run("--check") == 1
    assert "the lock lacks `--find-links " in capsys.readouterr().err


def test_check_ignores_only_the_command_line(tmp_path: Path, dist_factory: Any) -> None:
    locked = FlatLocked(tmp_path, dist_factory(EDITED))
    command = locked.line("#    bundle lock")
    lines = locked.text.splitlines(keepends=True)
    lines[command - 1] = "#    bundle lock req.in\n"
    write(locked.lock, "".join(lines))
    assert locked.run("--check") == 0
    write(locked.lock, locked.text.replace("# via -r", "# via -r   "))
    assert locked.run("--check") == 1


def test_the_hint_is_the_whole_command_quoted(
    tmp_path: Path, dist_factory: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    dists = dist_factory([*EDITED, DistSpec("six", "1.18.0rc1")])
    req = write(tmp_path / "my req.in", "six\n")
    constraints = write(tmp_path / "my c.txt", "six<1.18\n")
    lock = tmp_path / "my lock.txt"
    base = [str(req), "-o", str(lock), "-c", str(constraints), "--no-index", "-f", str(dists)]
    assert run(["lock", *base, "-q"]) == 0
    header = "#    bundle lock -o 'my lock.txt' -c 'my c.txt' 'my req.in'"
    assert header in lock.read_text().splitlines()
    write(constraints, "six<1.19\n")
    capsys.readouterr()
    assert run(["lock", "--check", "--pre", *base, "-q"]) == 1
    [hint] = [x for x in capsys.readouterr().err.splitlines() if x.startswith("hint: ")]
    command = shlex.split(hint.removeprefix("hint: re-lock with: "))
    assert command[:2] == ["bundle", "lock"]
    assert {"--pre", str(req), str(constraints), str(lock), str(dists)} <= set(command)
    # Following the hint converges: the lock then matches.
    assert run([*command[1:], "-q"]) == 0
    assert "#    bundle lock --pre -o" in lock.read_text()
    assert run(["lock", "--check", "--pre", *base, "-q"]) == 0
