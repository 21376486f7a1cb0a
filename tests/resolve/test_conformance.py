"""The packse resolver scenarios, one case each, through the real index path;
plus the runner's own mechanics (targets, comparison, report, pip oracle)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conformance import runner
from tests.conformance.__main__ import main
from tests.conformance.runner import (
    DIFFERENCES,
    Difference,
    Expectation,
    Result,
    Scenario,
    Status,
    TargetOutcome,
    compare,
    find_scenarios,
    format_report,
    pip_verdict,
    platform_tag,
    python_points,
    run_scenario,
    scenario_atoms,
    scenario_targets,
    universal_targets,
)

SCENARIOS = find_scenarios()
BY_ID = {s.id: s for s in SCENARIOS}


def test_the_scenarios_are_there() -> None:
    root = runner.scenarios_root()
    assert len(SCENARIOS) >= 140, (
        f"packse scenarios not found under {root}: copy packse's scenarios/ directory"
        f" there or set ${runner.SCENARIOS_ENV}"
    )
    assert len(BY_ID) == len(SCENARIOS), "two scenarios share an id"
    categories = {s.category for s in SCENARIOS}
    assert {"fork", "prereleases", "yanked", "local", "requires_python"} <= categories
    # Only TOML is read: the example's JSON and YAML twins are not cases of their own.
    assert [s.id for s in SCENARIOS if s.category == "examples"] == ["examples/example-toml"]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.id for s in SCENARIOS])
def test_scenario(scenario: Scenario, tmp_path: Path) -> None:
    result = run_scenario(scenario, tmp_path)
    if result.status is Status.SKIPPED:
        pytest.skip(result.detail)
    assert result.status in (Status.PASSED, Status.DOCUMENTED), result.detail


def test_every_documented_difference_names_a_scenario() -> None:
    assert set(DIFFERENCES) <= set(BY_ID)
    for difference in DIFFERENCES.values():
        assert difference.reason and "\n" not in difference.reason


# --- pip, the reference, agrees with every documented difference ----------------------

PIP_CHECKED = sorted(k for k, d in DIFFERENCES.items() if d.pip_checked and k in BY_ID)


@pytest.mark.parametrize("scenario_id", PIP_CHECKED)
def test_pip_gives_the_documented_outcome(scenario_id: str, tmp_path: Path) -> None:
    difference = DIFFERENCES[scenario_id]
    verdict = pip_verdict(BY_ID[scenario_id], tmp_path)
    assert verdict.satisfiable is difference.satisfiable, verdict.note
    if difference.packages and not BY_ID[scenario_id].universal:
        assert verdict.packages == difference.expectation.packages


def test_pip_verdict_reports_what_pip_would_install(tmp_path: Path) -> None:
    verdict = pip_verdict(BY_ID["examples/example-toml"], tmp_path)
    assert verdict.satisfiable is True
    assert verdict.packages == {"a": Version("1.0.0"), "b": Version("2.0.0")}


# --- the comparison is live: a wrong expectation fails -----------------------------------


def _with(scenario: Scenario, **changes: Any) -> Scenario:
    data: dict[str, Any] = copy.deepcopy(dict(scenario.data))
    for key, value in changes.items():
        data[key] = value
    return Scenario(scenario.category, scenario.name, scenario.path, data)


def test_a_wrong_pin_fails_with_a_one_line_diff(tmp_path: Path) -> None:
    example = BY_ID["examples/example-toml"]
    wrong = _with(example, expected={"satisfiable": True, "packages": {"a": "1.0.0", "b": "3"}})
    result = run_scenario(wrong, tmp_path)
    assert result.status is Status.FAILED
    assert result.detail == "b: expected 3, got 2.0.0"


def test_a_wrong_verdict_fails(tmp_path: Path) -> None:
    example = BY_ID["examples/example-toml"]
    result = run_scenario(_with(example, expected={"satisfiable": False}), tmp_path)
    assert result.status is Status.FAILED
    assert result.detail == "expected unsatisfiable, resolved a==1.0.0 b==2.0.0"


def test_an_unsatisfiable_scenario_fails_with_the_resolvers_error(tmp_path: Path) -> None:
    scenario = BY_ID["does_not_exist/transitive-requires-package-does-not-exist"]
    result = run_scenario(_with(scenario, expected={"satisfiable": True}), tmp_path)
    assert result.status is Status.FAILED
    assert result.detail.startswith("expected satisfiable, cp312-")
    assert "no version of b satisfies every requirement" in result.detail
    assert "\n" not in result.detail


def test_a_documented_difference_cannot_hide_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    example = BY_ID["examples/example-toml"]
    fake = {example.id: Difference("pip would refuse this", satisfiable=False)}
    monkeypatch.setattr(runner, "DIFFERENCES", fake)
    result = run_scenario(example, tmp_path)
    assert result.status is Status.FAILED
    assert "documented outcome" in result.detail


def test_a_documented_difference_is_reported_with_its_reason(tmp_path: Path) -> None:
    scenario_id = "yanked/transitive-yanked-and-unyanked-dependency"
    result = run_scenario(BY_ID[scenario_id], tmp_path)
    assert result.status is Status.DOCUMENTED
    assert result.detail == DIFFERENCES[scenario_id].reason
    assert result.outcomes[0].pins == {"a": Version("1"), "b": Version("1"), "c": Version("2")}


def test_a_skip_carries_its_reason(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    example = BY_ID["examples/example-toml"]
    monkeypatch.setattr(runner, "SKIPS", {example.id: "bundler has no such option"})
    result = run_scenario(example, tmp_path)
    assert (result.status, result.detail) == (Status.SKIPPED, "bundler has no such option")


def test_an_unmapped_option_fails_instead_of_being_ignored(tmp_path: Path) -> None:
    example = BY_ID["examples/example-toml"]
    result = run_scenario(_with(example, resolver_options={"fork_strategy": "fewest"}), tmp_path)
    assert result.status is Status.FAILED
    assert "fork_strategy" in result.detail


def test_compare_across_targets() -> None:
    a1 = {canonicalize_name("a"): Version("1")}
    a2 = {canonicalize_name("a"): Version("2")}
    ok = [TargetOutcome("t1", pins=a1), TargetOutcome("t2", pins=a1)]
    assert compare(Expectation(True, a1), ok) is None
    split = [TargetOutcome("t1", pins=a1), TargetOutcome("t2", pins=a2)]
    assert compare(Expectation(True, a1), split) == "a: expected 1, got 1 | 2"
    one_fails = [TargetOutcome("t1", pins=a1), TargetOutcome("t2", error="no", unsatisfiable=True)]
    assert compare(Expectation(False), one_fails) is None
    assert compare(Expectation(True), one_fails) == "expected satisfiable, t2: no"
    assert (
        compare(Expectation(False), ok) == "expected unsatisfiable, every one of 2 targets resolved"
    )
    crashed = [TargetOutcome("t1", error="InvalidDistribution: a-1.whl: bad zip")]
    assert compare(Expectation(False), crashed) == "t1: InvalidDistribution: a-1.whl: bad zip"


# --- targets ----------------------------------------------------------------------------


def test_uv_platform_names_map_to_wheel_tags() -> None:
    assert platform_tag("x86_64-manylinux2014") == "manylinux2014_x86_64"
    assert platform_tag("aarch64-manylinux_2_28") == "manylinux_2_28_aarch64"
    assert platform_tag("x86_64-pc-windows-msvc") == "win_amd64"
    with pytest.raises(ValueError, match="riscv-plan9"):
        platform_tag("riscv-plan9")


def test_single_targets_follow_the_scenario_options() -> None:
    [platform] = scenario_targets(BY_ID["wheels/no-sdist-no-wheels-with-matching-platform"])
    assert platform.platforms == ("manylinux_2_17_x86_64",)
    [python] = scenario_targets(BY_ID["requires_python/python-patch-override-no-patch"])
    # --python-version 3.9 means 3.9.0, even where the interpreter is 3.9.21.
    assert python.python_full_version == "3.9.0"
    [default] = scenario_targets(BY_ID["examples/example-toml"])
    assert default.python_short == "3.12"
    assert default.environment["sys_platform"] == "linux"


def _universal(requires: list[str], **root: str) -> Scenario:
    data: Mapping[str, Any] = {
        "name": "synthetic",
        "root": {"requires": requires, **root},
        "expected": {"satisfiable": True},
        "resolver_options": {"universal": True},
        "packages": {},
    }
    return Scenario("synthetic", "synthetic", Path("synthetic.toml"), data)


def test_universal_targets_cover_every_marker_region() -> None:
    scenario = _universal(["a>=2 ; sys_platform == 'linux'", "a<2 ; sys_platform == 'darwin'"])
    platforms = sorted(t.environment["sys_platform"] for t in universal_targets(scenario))
    # Both named platforms and one the markers do not name.
    assert platforms == ["darwin", "linux", "win32"]


def test_universal_targets_combine_variables() -> None:
    scenario = _universal(["a ; os_name == 'posix'", "b ; implementation_name == 'pypy'"])
    targets = universal_targets(scenario)
    pairs = {(t.environment["os_name"], t.environment["implementation_name"]) for t in targets}
    assert pairs == {("posix", "pypy"), ("posix", "cpython"), ("nt", "pypy"), ("nt", "cpython")}
    assert len({t.name for t in targets}) == len(targets)


def test_python_points_split_at_marker_bounds_inside_requires_python() -> None:
    scenario = _universal(["a ; python_version == '3.10'"], requires_python=">=3.10.1")
    assert python_points(scenario, scenario_atoms(scenario)) == ["3.10.1", "3.11.0"]
    below = _universal(["a ; python_version == '3.9'"], requires_python=">=3.10")
    assert [t.python_full_version for t in universal_targets(below)] == ["3.10.0"]


# --- transports and the command line -----------------------------------------------------


@pytest.mark.parametrize(
    "scenario_id",
    ["yanked/transitive-package-only-yanked-in-range-opt-in", "wheels/no-binary"],
)
def test_http_index_gives_the_same_outcome(scenario_id: str, tmp_path: Path) -> None:
    scenario = BY_ID[scenario_id]
    over_file = run_scenario(scenario, tmp_path / "file")
    over_http = run_scenario(scenario, tmp_path / "http", transport="http")
    assert over_http.status is Status.PASSED
    assert over_http.outcomes == over_file.outcomes


def test_report_counts_by_category_and_lists_failures() -> None:
    results = [
        Result("fork/a", Status.PASSED),
        Result("fork/b", Status.FAILED, "a: expected 1, got 2"),
        Result("yanked/c", Status.SKIPPED, "no such option"),
        Result("yanked/d", Status.DOCUMENTED, "pip semantics"),
    ]
    report = format_report(results)
    lines = report.splitlines()
    assert lines[0].split() == ["category", "passed", "documented", "failed", "skipped"]
    assert "fork 1 0 1 0" in [" ".join(line.split()) for line in lines]
    assert "total 1 1 1 1" in [" ".join(line.split()) for line in lines]
    assert "  fork/b: a: expected 1, got 2" in lines
    assert "  yanked/c: no such option" in lines


def test_command_line_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--scenarios", str(runner.scenarios_root()), "-k", "examples/"]) == 0
    out = capsys.readouterr().out
    assert " ".join(out.splitlines()[2].split()) == "examples 1 0 0 0"
    assert "1 scenarios" in out


def test_command_line_exits_2_without_scenarios(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--scenarios", str(tmp_path)]) == 2
    assert "no scenario found" in capsys.readouterr().err


def test_command_line_exits_1_on_a_failure(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    example = BY_ID["examples/example-toml"].path.read_text(encoding="utf-8")
    (tmp_path / "tampered").mkdir()
    tampered = example.replace('b = "2.0.0"', 'b = "3.0.0"')
    assert tampered != example
    (tmp_path / "tampered" / "example.toml").write_text(tampered, encoding="utf-8")
    assert main(["--scenarios", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "  tampered/example-toml: b: expected 3.0.0, got 2.0.0" in out.splitlines()


def test_packse_default_requires_python_is_filled_in() -> None:
    scenario = BY_ID["requires_python/python-greater-than-current-backtrack"]
    filled = runner.with_packse_defaults(BY_ID["examples/example-toml"].data)
    assert filled["packages"]["b"]["versions"]["3.0.0"]["requires_python"] == ">=3.12"
    assert "requires_python" not in BY_ID["examples/example-toml"].data["packages"]["a"]
    explicit = runner.with_packse_defaults(scenario.data)["packages"]["a"]["versions"]
    assert explicit["1.0.0"]["requires_python"] == ">=3.9"


def test_giving_up_is_no_verdict(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Running out of rounds must not count as "unsatisfiable", even where
    # the scenario expects unsatisfiable.
    monkeypatch.setattr(runner, "MAX_ROUNDS", 1)
    example = BY_ID["examples/example-toml"]
    result = run_scenario(_with(example, expected={"satisfiable": False}), tmp_path)
    assert result.status is Status.FAILED
    assert "gave up after 1 rounds" in result.detail
    assert result.outcomes[0].unsatisfiable is False
