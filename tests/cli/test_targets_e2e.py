"""Several targets in one bundle, on 127.0.0.1 (markers and tags evaluated
per target, never for this machine)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bundler.cli.main import run
from tests.support import DistSpec, IndexServerFactory

UNIVERSE = [
    DistSpec(
        "tool",
        "1.0",
        requires=(
            'winonly ; sys_platform == "win32"',
            'armonly ; platform_machine == "aarch64"',
            'backport ; python_version < "3.11"',
            'posixonly ; sys_platform != "win32"',
        ),
    ),
    DistSpec("posixonly", "1.0"),
    DistSpec("winonly", "1.0"),
    DistSpec("armonly", "1.0"),
    DistSpec("backport", "1.0"),
    DistSpec("modern", "1.0", requires_python=">=3.8"),
    DistSpec("modern", "2.0", requires_python=">=3.12"),
    DistSpec(
        "native",
        "1.0",
        sdist=False,
        wheel_tags=(
            "cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp310-cp310-win_amd64",
            "cp311-cp311-win_amd64",
        ),
    ),
    DistSpec(
        "stable",
        "1.0",
        sdist=False,
        wheel_tags=(
            "cp39-abi3-manylinux_2_17_x86_64.manylinux2014_x86_64",
            "cp39-abi3-win_amd64",
        ),
    ),
    DistSpec("linuxonly", "1.0", sdist=False, wheel_tags=("cp311-cp311-manylinux_2_17_x86_64",)),
]


@pytest.fixture
def index(index_server: IndexServerFactory) -> str:
    return str(index_server(UNIVERSE).url)


def build(tmp_path: Path, index: str, requirements: str, *options: str) -> tuple[int, Path, Path]:
    """``bundle build`` with a JSON report: (exit code, bundle, report)."""
    req = tmp_path / "requirements.in"
    req.write_text(requirements)
    bundle, report = tmp_path / "pypi", tmp_path / "report.json"
    code = run(
        [
            "build",
            str(req),
            "-o",
            str(bundle),
            "-i",
            index,
            "--quiet",
            "--json",
            str(report),
            *options,
        ]
    )
    return code, bundle, report


def lock_text(tmp_path: Path, index: str, requirements: str, *targets: str) -> tuple[int, str]:
    req = tmp_path / "requirements.in"
    req.write_text(requirements)
    out = tmp_path / "requirements.txt"
    code = run(["lock", str(req), "-o", str(out), "-i", index, "--quiet", *targets])
    return code, out.read_text() if out.exists() else ""


def test_markers_are_evaluated_per_target(tmp_path: Path, index: str) -> None:
    code, text = lock_text(
        tmp_path,
        index,
        "tool\n",
        "--platform",
        "windows",
        "--platform",
        "linux-aarch64",
        "--platform",
        "linux",
        "--python-version",
        "3.10",
        "--python-version",
        "3.11",
    )
    assert code == 0
    lines = {ln.split(" \\")[0] for ln in text.splitlines() if "==" in ln}
    assert 'winonly==1.0 ; sys_platform == "win32"' in lines
    assert 'armonly==1.0 ; platform_machine == "aarch64"' in lines
    assert 'backport==1.0 ; python_version == "3.10"' in lines
    assert 'posixonly==1.0 ; sys_platform == "linux"' in lines
    assert "tool==1.0" in lines  # every target: no marker


def test_each_python_gets_the_newest_release_it_can_run(tmp_path: Path, index: str) -> None:
    code, text = lock_text(
        tmp_path,
        index,
        "modern\n",
        "--python-version",
        "3.10",
        "--python-version",
        "3.12",
        "--platform",
        "linux",
    )
    assert code == 0
    assert 'modern==1.0 ; python_version == "3.10"' in text
    assert 'modern==2.0 ; python_version == "3.12"' in text


def test_platform_and_abi3_wheels_per_target(tmp_path: Path, index: str) -> None:
    code, bundle, report = build(
        tmp_path,
        index,
        "native\nstable\n",
        "--platform",
        "windows",
        "--platform",
        "linux",
        "--python-version",
        "3.11",
    )
    assert code == 0, report.read_text()
    manifest = json.loads((bundle / "bundle.json").read_text())
    by_file = {a["filename"]: a["targets"] for a in manifest["artifacts"]}
    assert by_file["native-1.0-cp311-cp311-win_amd64.whl"] == ["cp311-win_amd64"]
    linux = "native-1.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    assert by_file[linux] == ["cp311-manylinux_2_28_x86_64"]
    assert by_file["stable-1.0-cp39-abi3-win_amd64.whl"] == ["cp311-win_amd64"]
    assert not any("cp310" in name for name in by_file)
    results = json.loads(report.read_text())["verify"]["results"]
    windows = {r["check"]: r["status"] for r in results if r["target"] == "cp311-win_amd64"}
    assert windows["closure"] == "passed"
    assert windows["reality"] == "skipped"  # no Windows interpreter here
    assert windows["pip"] == "passed"  # pip's own dry run agrees


def test_pip_view_names_its_host_marker_limitation(tmp_path: Path, index: str) -> None:
    code, bundle, report = build(
        tmp_path, index, "tool\n", "--platform", "windows", "--python-version", "3.11"
    )
    assert code == 0
    results = json.loads(report.read_text())["verify"]["results"]
    pip = next(r for r in results if r["check"] == "pip")
    # pip evaluates tool's markers for this Linux machine and asks for
    # posixonly, which a Windows bundle rightly lacks.
    assert pip["status"] == "differs"
    assert "posixonly" in pip["problems"][0]["message"]
    assert "11664" in pip["problems"][0]["message"]
    manifest = json.loads((bundle / "bundle.json").read_text())
    assert "posixonly" not in {a["project"] for a in manifest["artifacts"]}


def test_target_without_usable_distribution_exits_1_naming_it(
    tmp_path: Path, index: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = lock_text(
        tmp_path, index, "linuxonly\n", "--platform", "windows", "--python-version", "3.11"
    )
    assert code == 1
    err = capsys.readouterr().err
    assert "cp311-win_amd64" in err and "linuxonly" in err


def test_download_uses_the_targets_the_lock_names(tmp_path: Path, index: str) -> None:
    code, _ = lock_text(
        tmp_path,
        index,
        "native\n",
        "--platform",
        "windows",
        "--platform",
        "linux",
        "--python-version",
        "3.10",
    )
    assert code == 0
    bundle = tmp_path / "pypi"
    assert (
        run(
            [
                "download",
                str(tmp_path / "requirements.txt"),
                "-o",
                str(bundle),
                "-i",
                index,
                "--quiet",
            ]
        )
        == 0
    )
    names = sorted(p.name for p in (bundle / "files").glob("*.whl"))
    assert names == [
        "native-1.0-cp310-cp310-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
        "native-1.0-cp310-cp310-win_amd64.whl",
    ]
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 0


def test_relocking_keeps_each_targets_own_pins(tmp_path: Path, index: str) -> None:
    """An existing multi-target lock's pins are preferences per target: the
    3.12 target keeps modern 2.0 although 3.10's pin is 1.0."""
    targets = ("--python-version", "3.10", "--python-version", "3.12", "--platform", "linux")
    code, first = lock_text(tmp_path, index, "modern\n", *targets)
    assert code == 0
    code, again = lock_text(tmp_path, index, "modern\n", *targets)
    assert code == 0
    assert again == first
    assert 'modern==2.0 ; python_version == "3.12"' in again


def test_targets_that_see_the_index_alike_share_one_resolution(
    tmp_path: Path, index_server: IndexServerFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Linux and macOS see every file and marker alike here: the later one
    replays the first one's resolution, and the lock is what resolving each
    target gives; Windows (winonly) and Python 3.10 (backport) differ."""
    from bundler.lock import locker
    from bundler.resolve import replay as replaying

    server = index_server([*UNIVERSE[:6], DistSpec("app", "1.0", requires=("tool", "modern"))])
    req = tmp_path / "requirements.in"
    req.write_text("app\n")
    targets = [f"--platform={p}" for p in ("linux", "macos", "windows")]
    targets += ["--python-version=3.10", "--python-version=3.11"]
    replayed: list[str] = []
    real = replaying.replay

    def counting(*args: object, **kwargs: object) -> object:
        found = real(*args, **kwargs)  # type: ignore[arg-type]
        if found is not None:
            replayed.append(found.target.name)
        return found

    monkeypatch.setattr(replaying, "replay", counting)
    locks = {}
    for on in (True, False):
        monkeypatch.setattr(locker, "REPLAY", on)
        out = tmp_path / f"pylock.{on}.toml"
        args = ["lock", str(req), "-o", str(out), "-i", str(server.url), "--quiet", *targets]
        assert run(args) == 0
        locks[on] = out.read_text()
    assert replayed == ["cp310-macosx_14_0_arm64", "cp311-macosx_14_0_arm64"]
    assert locks[True] == locks[False]
    assert 'name = "winonly"' in locks[True] and 'name = "backport"' in locks[True]
