"""``bundle prune``: an index directory two bundles were merged into,
pruned down to one bundle's lock, is that bundle again, page for page."""

from __future__ import annotations

import json
import os
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from packaging.utils import NormalizedName

from bundler import fsutil
from bundler.bundle import prune
from bundler.bundle.manifest import manifest_from_json
from bundler.bundle.pagewriter import (
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from bundler.cli.main import run
from bundler.lock.files import read_lock_file
from bundler.models import BundleArtifact
from tests.support import DistSpec, IndexServerFactory, installed, make_venv, pip_run
from tests.support.faults import fail_at, tree_state

SPECS = [
    DistSpec("alpha", "1.0", requires=("common>=1", "only-a==1.0")),
    DistSpec("beta", "1.0", requires=("common>=1", "only-b")),
    DistSpec("gamma", "1.0"),
    DistSpec("common", "1.0", requires_python=">=3.8"),
    DistSpec("only-a", "1.0", yanked="superseded"),  # pinned with ==: kept, yanked
    DistSpec("only-b", "2.0", wheel=False),  # an sdist
]


def bundle_cmd(*args: str) -> int:
    return run([*args, "--quiet"])


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name not in {".bundle.lock", ".publish.lock"}
    }


def under(root: Path, top: str) -> dict[str, bytes]:
    return {k: v for k, v in tree(root).items() if k.startswith(f"{top}/")}


@pytest.fixture
def bundles(tmp_path: Path, index_server: IndexServerFactory) -> dict[str, Path]:
    """Bundles of ``alpha``, ``beta`` and ``gamma``, built from one index."""
    url = str(index_server(SPECS).url)
    out: dict[str, Path] = {}
    for name in ("alpha", "beta", "gamma"):
        req = tmp_path / f"{name}.in"
        req.write_text(f"{name}\n")
        out[name] = tmp_path / name
        assert bundle_cmd("build", str(req), "-o", str(out[name]), "-i", url, "--no-install") == 0
    return out


def merge(sources: list[Path], dest: Path) -> Path:
    """A directory the bundles were published to: their files side by
    side and pages listing all of them, as a bundle's pages are written
    (no bundle.json of its own)."""
    artifacts: dict[str, BundleArtifact] = {}
    for source in sources:
        manifest = manifest_from_json((source / "bundle.json").read_bytes(), "bundle.json")
        artifacts.update((a.filename, a) for a in manifest.artifacts)
        shutil.copytree(source / "files", dest / "files", dirs_exist_ok=True)
    by_project: dict[NormalizedName, list[BundleArtifact]] = defaultdict(list)
    for a in artifacts.values():
        by_project[a.project].append(a)
    simple = dest / "simple"
    for project, items in by_project.items():
        (simple / project).mkdir(parents=True)
        (simple / project / "index.html").write_bytes(render_project_html(project, items))
        (simple / project / "index.json").write_bytes(render_project_json(project, items))
    (simple / "index.html").write_bytes(render_root_html(a.project for a in artifacts.values()))
    (simple / "index.json").write_bytes(render_root_json(a.project for a in artifacts.values()))
    return dest


def test_prune_keeps_exactly_one_bundle_and_pip_installs_it(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    alpha, beta = bundles["alpha"], bundles["beta"]
    merged = merge([alpha, beta], tmp_path / "published")
    assert set(under(merged, "files")) > set(under(alpha, "files"))
    report = tmp_path / "prune.json"
    code = bundle_cmd("prune", str(merged), "--keep", str(alpha / "requirements.txt"),
                      "--json", str(report))  # fmt: skip
    assert code == 0, report.read_text()
    # Exactly beta's own files went; the pages are alpha's, byte for byte
    # (yanked flag, Requires-Python, metadata hashes, upload times).
    assert under(merged, "files") == under(alpha, "files")
    assert under(merged, "simple") == under(alpha, "simple")
    assert b'data-yanked="superseded"' in (merged / "simple/only-a/index.html").read_bytes()
    gone = set(json.loads(report.read_text())["removed"])
    assert gone == set(under(beta, "files")) - set(under(alpha, "files"))
    assert "files/common-1.0-py3-none-any.whl" not in gone  # both need it

    python = make_venv(tmp_path / "venv")
    pip_run(
        ["install", "--index-url", (merged / "simple").as_uri() + "/", "--require-hashes",
         "-r", str(alpha / "requirements.txt")],
        python=python,
    )  # fmt: skip
    assert installed(python)["only-a"] == "1.0"


def test_prune_refuses_a_directory_a_publisher_holds(
    bundles: dict[str, Path], tmp_path: Path
) -> None:
    from bundler.publish.directory import DirectoryDestination

    merged = merge([bundles["alpha"], bundles["beta"]], tmp_path / "published")
    keep = ["--keep", str(bundles["alpha"] / "requirements.txt")]
    with DirectoryDestination(merged).lock(wait=0):
        before = tree(merged)
        assert bundle_cmd("prune", str(merged), *keep) != 0
        assert tree(merged) == before
    assert bundle_cmd("prune", str(merged), *keep) == 0
    assert under(merged, "files") == under(bundles["alpha"], "files")


def test_prune_by_a_pylock_and_by_several_locks(bundles: dict[str, Path], tmp_path: Path) -> None:
    alpha, beta, gamma = bundles["alpha"], bundles["beta"], bundles["gamma"]
    merged = merge([alpha, beta, gamma], tmp_path / "published")
    before = tree(merged)
    # Everything kept: nothing removed, not one page rewritten.
    keep_all = [f"--keep={b / 'requirements.txt'}" for b in (alpha, beta, gamma)]
    assert bundle_cmd("prune", str(merged), *keep_all) == 0
    assert tree(merged) == before
    assert bundle_cmd("prune", str(merged), "--keep", str(beta / "pylock.toml"),
                      "--keep", str(gamma / "requirements.txt")) == 0  # fmt: skip
    assert under(merged, "files") == {**under(beta, "files"), **under(gamma, "files")}
    assert not (merged / "simple" / "alpha").exists()
    assert not (merged / "simple" / "only-a").exists()
    root = (merged / "simple" / "index.html").read_text()
    assert "gamma" in root and "only-a" not in root


def test_dry_run_lists_and_changes_nothing(
    bundles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = merge([bundles["alpha"], bundles["beta"]], tmp_path / "published")
    before = tree(merged)
    capsys.readouterr()
    keep = str(bundles["alpha"] / "requirements.txt")
    assert run(["prune", str(merged), "--keep", keep, "--dry-run"]) == 0
    err = capsys.readouterr().err
    assert "would remove files/beta-1.0-py3-none-any.whl" in err
    assert "would remove files/beta-1.0-py3-none-any.whl.metadata" in err
    assert "only-b-2.0.tar.gz" in err.replace("only_b", "only-b")
    assert "common" not in err
    assert tree(merged) == before
    assert sorted(p.name for p in merged.iterdir()) == ["files", "simple"]


def test_a_pin_the_directory_lacks_is_refused(
    bundles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    merged = merge([bundles["alpha"]], tmp_path / "published")
    before = tree(merged)
    capsys.readouterr()
    code = bundle_cmd("prune", str(merged), "--keep", str(bundles["alpha"] / "requirements.txt"),
                      "--keep", str(bundles["gamma"] / "requirements.txt"))  # fmt: skip
    assert code == 1
    err = capsys.readouterr().err
    assert "gamma==1.0 is pinned" in err and "requirements.txt:" in err
    assert "Traceback" not in err
    assert tree(merged) == before


def test_bad_input_is_named(
    bundles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keep = str(bundles["alpha"] / "requirements.txt")
    assert bundle_cmd("prune", str(tmp_path / "absent"), "--keep", keep) == 2
    assert bundle_cmd("prune", str(tmp_path), "--keep", keep) == 2  # no files/, simple/
    assert "needs files/ and simple/" in capsys.readouterr().err
    merged = merge([bundles["alpha"]], tmp_path / "published")
    assert bundle_cmd("prune", str(merged), "--keep", str(tmp_path / "nope.txt")) == 2
    page = merged / "simple" / "common" / "index.json"
    page.write_text("{not json")
    assert bundle_cmd("prune", str(merged), "--keep", keep) == 1
    err = capsys.readouterr().err
    assert str(page) in err and "Traceback" not in err


def test_a_bundle_keeps_what_its_manifest_lists(
    bundles: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alpha, beta = bundles["alpha"], bundles["beta"]
    own = under(alpha, "files")
    # What a merge left beside the bundle: files no page and no manifest lists.
    for path in (beta / "files").iterdir():
        if not (alpha / "files" / path.name).exists():
            shutil.copy(path, alpha / "files" / path.name)
    assert bundle_cmd("verify", str(alpha), "--no-install", "--offline") == 1
    before = tree(alpha)
    capsys.readouterr()
    # Keeping another lock would leave bundle.json naming missing files.
    assert bundle_cmd("prune", str(alpha), "--keep", str(beta / "requirements.txt")) == 2
    err = capsys.readouterr().err
    assert "is a bundle" in err and "alpha-1.0-py3-none-any.whl" in err
    assert tree(alpha) == before
    assert bundle_cmd("prune", str(alpha), "--keep", str(alpha / "requirements.txt")) == 0
    assert under(alpha, "files") == own
    assert bundle_cmd("verify", str(alpha), "--no-install", "--offline") == 0


def test_pages_are_written_before_any_file_goes(
    bundles: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merged = merge([bundles["alpha"], bundles["beta"]], tmp_path / "published")
    plan = prune.plan(merged, [read_lock_file(bundles["alpha"] / "requirements.txt")])
    assert plan.paths
    rename = os.rename
    seen: list[str] = []

    def checked_rename(source: str | Path, dest: str | Path) -> None:
        source = Path(source)
        if source.parent.name == "files" and not source.name.startswith("."):
            pages = b"".join(p.read_bytes() for p in (merged / "simple").rglob("index.*"))
            assert source.name.encode() not in pages, f"a page still links {source.name}"
            seen.append(source.name)
        rename(source, dest)

    monkeypatch.setattr(os, "rename", checked_rename)
    prune.apply(plan)
    monkeypatch.undo()
    assert sorted(seen) == list(plan.paths)
    assert not [p for p in (merged / "files").iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("step", ["temp_file_beside", "_put_in_place", "rename"])
def test_a_prune_failing_at_any_step_leaves_the_directory_as_it_was(
    bundles: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    step: str,
) -> None:
    # A full disk at each page written in turn, each page put in place, or
    # each file moved aside for removal, until the prune gets through:
    # every failed one exits 1 and leaves every file and directory as it
    # was.
    merged = merge([bundles["alpha"], bundles["beta"]], tmp_path / "published")
    keep = ["--keep", str(bundles["alpha"] / "requirements.txt")]
    before = tree_state(merged)
    real = getattr(fsutil if step != "rename" else os, step)
    failures = 0
    while True:
        failing = fail_at(failures + 1, real)
        monkeypatch.setattr(fsutil if step != "rename" else os, step, failing)
        code = bundle_cmd("prune", str(merged), *keep)
        err = capsys.readouterr().err
        monkeypatch.undo()
        if code == 0:
            break
        failures += 1
        assert code == 1, err
        assert "Traceback" not in err
        assert tree_state(merged) == before, (step, failures)
    assert failures >= 2
    assert under(merged, "files") == under(bundles["alpha"], "files")
    assert under(merged, "simple") == under(bundles["alpha"], "simple")


BUILT_SPECS = [
    DistSpec("app", "1.0", requires=("srconly",)),
    # sdist only, whose [build-system] requires a package of its own.
    DistSpec("srconly", "1.0", wheel=False, build_requires=("buildtool>=1",)),
    DistSpec("buildtool", "1.0"),
]


def test_a_kept_bundle_lock_keeps_its_build_only_files(
    tmp_path: Path, index_server: IndexServerFactory, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bundle's requirements.txt leaves its build-only pins out; beside
    its bundle.json it keeps them, and without it prune refuses to leave an
    sdist that could no longer be built."""
    url = str(index_server(BUILT_SPECS).url)
    req = tmp_path / "app.in"
    req.write_text("app\n")
    bundle = tmp_path / "b"
    assert bundle_cmd("build", str(req), "-o", str(bundle), "-i", url, "--no-install") == 0
    assert "buildtool" not in (bundle / "requirements.txt").read_text()
    merged = merge([bundle], tmp_path / "published")
    (merged / "files" / "extra.whl").write_bytes(b"left by a merge")

    alone = tmp_path / "alone" / "requirements.txt"
    alone.parent.mkdir()
    shutil.copy(bundle / "requirements.txt", alone)
    before = tree(merged)
    capsys.readouterr()
    assert bundle_cmd("prune", str(merged), "--keep", str(alone)) == 1
    err = capsys.readouterr().err
    assert "srconly-1.0.tar.gz, whose [build-system] requires buildtool>=1, but no kept" in err
    assert "keep the bundle's pylock.toml" in err and "Traceback" not in err
    assert tree(merged) == before

    assert bundle_cmd("prune", str(merged), "--keep", str(bundle / "requirements.txt")) == 0
    assert under(merged, "files") == under(bundle, "files")
    python = make_venv(tmp_path / "venv")
    pip_run(
        ["install", "--no-index", "--find-links", str(merged / "files"), "--require-hashes",
         "-r", str(bundle / "requirements.txt")],
        python=python,
    )  # fmt: skip
    assert installed(python)["srconly"] == "1.0"
