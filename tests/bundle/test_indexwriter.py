"""The static index: pure renderers, the writer, and real pip installing
from what was written (file:// index, find-links, a static web server)."""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from packaging.utils import NormalizedName

from bundler.bundle.manifest import manifest_from_json
from bundler.bundle.pagewriter import (
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
    write_index,
)
from bundler.errors import BundlerError, InvalidDistribution, MultipleErrors
from bundler.models import BundleArtifact, DistKind, Manifest
from tests.support.distbuilder import DistSpec, build_all, filenames, read_wheel_metadata
from tests.support.servers import static_server

SHA_A = "a" * 64
SHA_M = "e" * 64


def _artifact(filename: str, version: str = "1.0", **kw: Any) -> BundleArtifact:
    kw.setdefault("sha256", SHA_A)
    kw.setdefault("size", 10)
    kw.setdefault("kind", DistKind.WHEEL if filename.endswith(".whl") else DistKind.SDIST)
    kw.setdefault("project", NormalizedName("pkg"))
    return BundleArtifact(filename=filename, version=version, **kw)


class _Links(html.parser.HTMLParser):
    """Collects the <a> tags of a page: (attributes, text)."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[dict[str, str | None], str]] = []
        self.meta: list[dict[str, str | None]] = []
        self._open: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = dict(attrs)
        elif tag == "meta":
            self.meta.append(dict(attrs))

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self.links.append((self._open, data))
            self._open = None


def _parse(page: bytes) -> _Links:
    parser = _Links()
    parser.feed(page.decode("utf-8"))
    return parser


# --- pure renderers ----------------------------------------------------------


PAGE_ARTIFACTS = [
    _artifact("pkg-2.0.tar.gz", "2.0", yanked="", requires_python="<4,>=3.9"),
    _artifact(
        "pkg-1.0+cpu-py3-none-any.whl",
        "1.0+cpu",
        yanked='bad "build" & <worse>',
        metadata_sha256=SHA_M,
        upload_time="2024-05-06T07:08:09.123456Z",
    ),
    _artifact("pkg-10.0-py3-none-any.whl", "10.0", size=99),
]


def test_project_html_attributes() -> None:
    page = render_project_html(NormalizedName("pkg"), PAGE_ARTIFACTS)
    text = page.decode()
    parsed = _parse(page)
    assert {"name": "pypi:repository-version", "content": "1.1"} in parsed.meta
    links = {label: attrs for attrs, label in parsed.links}
    # Sorted by filename, anchor text is the filename.
    assert [label for _, label in parsed.links] == [
        "pkg-1.0+cpu-py3-none-any.whl",
        "pkg-10.0-py3-none-any.whl",
        "pkg-2.0.tar.gz",
    ]
    wheel = links["pkg-1.0+cpu-py3-none-any.whl"]
    assert wheel["href"] == f"../../files/pkg-1.0%2Bcpu-py3-none-any.whl#sha256={SHA_A}"
    assert wheel["data-yanked"] == 'bad "build" & <worse>'
    assert wheel["data-core-metadata"] == f"sha256={SHA_M}"
    assert wheel["data-dist-info-metadata"] == f"sha256={SHA_M}"
    assert "data-requires-python" not in wheel
    sdist = links["pkg-2.0.tar.gz"]
    assert sdist["data-yanked"] == ""  # yanked without a reason: present, empty
    assert sdist["data-requires-python"] == "<4,>=3.9"
    assert "data-core-metadata" not in sdist
    plain = links["pkg-10.0-py3-none-any.whl"]
    assert "data-yanked" not in plain
    assert "data-core-metadata" not in plain
    assert "data-dist-info-metadata" not in plain
    # PEP 503: the escaped form is what is on the page.
    assert 'data-requires-python="&lt;4,&gt;=3.9"' in text
    assert "&quot;build&quot; &amp; &lt;worse&gt;" in text


def test_project_json_shape() -> None:
    doc = json.loads(render_project_json(NormalizedName("pkg"), PAGE_ARTIFACTS))
    assert doc["meta"] == {"api-version": "1.1"}
    assert doc["name"] == "pkg"
    # PEP 700: versions sorted as versions, not as strings.
    assert doc["versions"] == ["1.0+cpu", "2.0", "10.0"]
    files = {f["filename"]: f for f in doc["files"]}
    assert list(files) == sorted(files)
    wheel = files["pkg-1.0+cpu-py3-none-any.whl"]
    assert wheel == {
        "filename": "pkg-1.0+cpu-py3-none-any.whl",
        "url": "../../files/pkg-1.0%2Bcpu-py3-none-any.whl",
        "hashes": {"sha256": SHA_A},
        "yanked": 'bad "build" & <worse>',
        "core-metadata": {"sha256": SHA_M},
        "size": 10,
        "upload-time": "2024-05-06T07:08:09.123456Z",
    }
    sdist = files["pkg-2.0.tar.gz"]
    assert sdist["yanked"] is True
    assert sdist["core-metadata"] is False
    assert sdist["requires-python"] == "<4,>=3.9"
    plain = files["pkg-10.0-py3-none-any.whl"]
    assert plain["yanked"] is False
    assert plain["size"] == 99
    assert "requires-python" not in plain
    assert "upload-time" not in plain


def test_json_never_has_legacy_metadata_key() -> None:
    page = render_project_json(NormalizedName("pkg"), PAGE_ARTIFACTS)
    assert b"dist-info-metadata" not in page  # pip#12042


def test_renderers_are_deterministic() -> None:
    shuffled = [PAGE_ARTIFACTS[2], PAGE_ARTIFACTS[0], PAGE_ARTIFACTS[1]]
    name = NormalizedName("pkg")
    assert render_project_html(name, shuffled) == render_project_html(name, PAGE_ARTIFACTS)
    assert render_project_json(name, shuffled) == render_project_json(name, PAGE_ARTIFACTS)
    names = [NormalizedName("zeta"), NormalizedName("alpha"), NormalizedName("alpha")]
    assert render_root_html(names) == render_root_html(sorted(set(names)))
    assert render_root_json(names) == render_root_json(reversed(names))


def test_root_pages() -> None:
    names = [NormalizedName("zope-interface"), NormalizedName("alpha")]
    parsed = _parse(render_root_html(names))
    assert [(a["href"], label) for a, label in parsed.links] == [
        ("alpha/", "alpha"),
        ("zope-interface/", "zope-interface"),
    ]
    assert {"name": "pypi:repository-version", "content": "1.1"} in parsed.meta
    doc = json.loads(render_root_json(names))
    assert doc == {
        "meta": {"api-version": "1.1"},
        "projects": [{"name": "alpha"}, {"name": "zope-interface"}],
    }


# --- the writer -----------------------------------------------------------------

SPECS = [
    DistSpec("Alpha", "1.0", requires=("beta>=1.0", "delta", "epsilon"), sdist=False),
    DistSpec("beta", "1.0", sdist=False),
    DistSpec("beta", "2.0", sdist=False, yanked="broken build"),
    DistSpec("beta", "3.0", sdist=False, requires_python=">=4"),
    DistSpec("delta", "1.0+local", sdist=False),
    DistSpec("epsilon", "1.0", wheel=False),
]


def _bundle_manifest(files_dir: Path, specs: list[DistSpec] = SPECS) -> Manifest:
    """Build the specs' distributions into files_dir; a manifest listing them."""
    build_all(specs, files_dir)
    artifacts = []
    for spec in specs:
        for filename in filenames(spec):
            kind = DistKind.WHEEL if filename.endswith(".whl") else DistKind.SDIST
            data = (files_dir / filename).read_bytes()
            artifacts.append(
                BundleArtifact(
                    filename=filename,
                    project=NormalizedName(spec.project),
                    version=spec.version,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    kind=kind,
                    requires_python=spec.requires_python,
                    yanked=spec.yanked,
                    # Stale on purpose: the writer must recompute it.
                    metadata_sha256=SHA_M if kind is DistKind.WHEEL else None,
                )
            )
    return Manifest(
        artifacts=tuple(sorted(artifacts, key=lambda a: a.filename)),
        packages=(),
        targets=("host",),
        requirements=("alpha",),
    )


def _requirements_txt(manifest: Manifest, pins: dict[str, str]) -> bytes:
    lines = []
    for name, version in sorted(pins.items()):
        hashes = [a.sha256 for a in manifest.artifacts if (a.project, a.version) == (name, version)]
        assert hashes, name
        lines.append(f"{name}=={version} " + " ".join(f"--hash=sha256:{h}" for h in hashes))
    return ("\n".join(lines) + "\n").encode()


def _tree(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_write_index_tree(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    extra = {"requirements.txt": b"alpha==1.0\n"}
    result = write_index(bundle, manifest, extra)

    # PEP 658 sidecars: the wheel's own METADATA, byte for byte; hash recorded.
    for a in result.artifacts:
        sidecar = bundle / "files" / (a.filename + ".metadata")
        if a.kind is DistKind.WHEEL:
            data = read_wheel_metadata(bundle / "files" / a.filename)
            assert sidecar.read_bytes() == data
            assert a.metadata_sha256 == hashlib.sha256(data).hexdigest()
        else:
            assert not sidecar.exists()
            assert a.metadata_sha256 is None
    assert [a.filename for a in result.artifacts] == [a.filename for a in manifest.artifacts]

    # bundle.json holds exactly the returned manifest.
    on_disk = manifest_from_json((bundle / "bundle.json").read_bytes(), "bundle.json")
    assert on_disk == result
    assert (bundle / "requirements.txt").read_bytes() == b"alpha==1.0\n"

    simple = bundle / "simple"
    root = json.loads((simple / "index.json").read_bytes())
    assert [p["name"] for p in root["projects"]] == ["alpha", "beta", "delta", "epsilon"]
    assert [a["href"] for a, _ in _parse((simple / "index.html").read_bytes()).links] == [
        "alpha/",
        "beta/",
        "delta/",
        "epsilon/",
    ]
    beta_links = _parse((simple / "beta" / "index.html").read_bytes()).links
    by_name = {label: attrs for attrs, label in beta_links}
    beta1 = next(a for a in result.artifacts if a.filename.startswith("beta-1.0"))
    assert by_name[beta1.filename]["data-core-metadata"] == f"sha256={beta1.metadata_sha256}"
    assert by_name["beta-2.0-py3-none-any.whl"]["data-yanked"] == "broken build"
    assert by_name["beta-3.0-py3-none-any.whl"]["data-requires-python"] == ">=4"
    # Every href resolves, from the page's directory, to the file it names.
    for attrs, label in beta_links:
        href = attrs["href"]
        assert href is not None
        target = (simple / "beta" / href.split("#")[0]).resolve()
        assert target == (bundle / "files" / label).resolve()
        assert href.endswith("#sha256=" + hashlib.sha256(target.read_bytes()).hexdigest())
    beta_json = json.loads((simple / "beta" / "index.json").read_bytes())
    assert beta_json["versions"] == ["1.0", "2.0", "3.0"]


def test_write_index_is_deterministic(tmp_path: Path) -> None:
    trees = []
    for n in (1, 2):
        bundle = tmp_path / f"b{n}"
        manifest = _bundle_manifest(bundle / "files")
        write_index(bundle, manifest, {"requirements.txt": b"x\n"})
        trees.append(_tree(bundle))
        # Writing again over the same tree changes nothing.
        write_index(bundle, manifest, {"requirements.txt": b"x\n"})
        assert _tree(bundle) == trees[-1]
    assert trees[0] == trees[1]
    assert any(name.endswith(".metadata") for name in trees[0])


def test_write_index_removes_stale_pages(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    write_index(bundle, manifest, {})
    (bundle / "simple" / "delta" / "notes.txt").write_text("kept")
    smaller = Manifest(
        artifacts=tuple(a for a in manifest.artifacts if a.project not in ("delta", "epsilon")),
        packages=(),
        targets=manifest.targets,
    )
    write_index(bundle, smaller, {})
    simple = bundle / "simple"
    assert not (simple / "epsilon").exists()
    # A directory holding something the writer did not make loses only the pages.
    assert sorted(p.name for p in (simple / "delta").iterdir()) == ["notes.txt"]
    assert (simple / "beta" / "index.html").is_file()
    root = json.loads((simple / "index.json").read_bytes())
    assert [p["name"] for p in root["projects"]] == ["alpha", "beta"]


def test_write_index_reports_every_bad_wheel(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    wheels = [a.filename for a in manifest.artifacts if a.kind is DistKind.WHEEL]
    for name in wheels[:2]:
        (bundle / "files" / name).unlink()
    (bundle / "files" / wheels[2]).write_bytes(b"not a zip archive")
    with pytest.raises(MultipleErrors) as info:
        write_index(bundle, manifest, {})
    errors = info.value.errors
    assert [e.filename for e in errors if isinstance(e, InvalidDistribution)] == wheels[:3]
    assert "missing" in str(errors[0])
    assert not (bundle / "bundle.json").exists()
    assert not (bundle / "simple").exists()


@pytest.mark.parametrize("name", ["../x.txt", "a/b", "bundle.json", "simple", "files", ""])
def test_write_index_refuses_bad_extra_files(tmp_path: Path, name: str) -> None:
    manifest = Manifest(artifacts=(), packages=(), targets=())
    with pytest.raises(BundlerError, match="cannot write"):
        write_index(tmp_path, manifest, {name: b"x"})
    assert list(tmp_path.iterdir()) == []


def test_write_index_refuses_unsafe_artifacts(tmp_path: Path) -> None:
    manifest = Manifest(
        artifacts=(
            _artifact("../evil-1.0-py3-none-any.whl"),
            _artifact("ok-1.0.tar.gz", project=NormalizedName("../up")),
        ),
        packages=(),
        targets=(),
    )
    with pytest.raises(MultipleErrors) as info:
        write_index(tmp_path, manifest, {})
    assert len(info.value.errors) == 2
    assert list(tmp_path.iterdir()) == []


def _metadata(bundle: Path, artifacts: Iterable[BundleArtifact]) -> dict[str, bytes]:
    """What a download hands over: each wheel's METADATA, read as it arrived."""
    return {
        a.filename: read_wheel_metadata(bundle / "files" / a.filename)
        for a in artifacts
        if a.kind is DistKind.WHEEL
    }


def test_metadata_read_during_the_download_gives_the_same_tree(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    metadata = _metadata(bundle, manifest.artifacts)
    result = write_index(bundle, manifest, {"requirements.txt": b"x\n"}, metadata)
    wheels = [a for a in manifest.artifacts if a.kind is DistKind.WHEEL]
    assert all((bundle / "files" / (a.filename + ".metadata")).is_file() for a in wheels)
    # The same tree as reading every wheel again.
    other = tmp_path / "other"
    expected = write_index(other, _bundle_manifest(other / "files"), {"requirements.txt": b"x\n"})
    assert _tree(bundle) == _tree(other)
    assert result == expected


def test_a_wheel_whose_metadata_was_not_handed_over_is_read(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    beta = [a for a in manifest.artifacts if a.project == "beta"]
    metadata = _metadata(bundle, [a for a in manifest.artifacts if a not in beta[:1]])
    write_index(bundle, manifest, {}, metadata)
    other = tmp_path / "other"
    write_index(other, _bundle_manifest(other / "files"), {})
    assert _tree(bundle) == _tree(other)


def test_a_bundle_with_a_file_missing_gets_no_index(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    broken = replace(
        manifest, artifacts=(*manifest.artifacts, _artifact("gone-1.0-py3-none-any.whl"))
    )
    with pytest.raises(InvalidDistribution, match="missing"):
        write_index(bundle, broken, {}, _metadata(bundle, manifest.artifacts))
    assert not (bundle / "simple").exists()
    assert not (bundle / "bundle.json").exists()
    assert not any(p.name.endswith(".metadata") for p in (bundle / "files").iterdir())


def test_the_pages_of_a_bundle_are_replaced_by_the_new_ones(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    write_index(bundle, manifest, {})
    before = _tree(bundle / "simple")
    smaller = replace(
        manifest, artifacts=tuple(a for a in manifest.artifacts if a.project != "delta")
    )
    write_index(bundle, smaller, {}, _metadata(bundle, smaller.artifacts))
    assert not (bundle / "simple" / "delta").exists()
    assert (bundle / "simple" / "beta" / "index.html").read_bytes() == before["beta/index.html"]


def test_staging_directories_of_interrupted_runs_are_removed(tmp_path: Path) -> None:
    bundle = tmp_path / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    leftover = bundle / ".simple.x1y2z3.tmp"
    (leftover / "alpha").mkdir(parents=True)
    (leftover / "alpha" / "index.html").write_text("half")
    kept = bundle / ".simple-notes"
    kept.mkdir()
    write_index(bundle, manifest, {})
    assert not leftover.exists() and kept.is_dir()


# --- real pip over the written index -------------------------------------------


def _pip_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.upper().startswith("PIP_") and not k.lower().endswith("_proxy")
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _fresh_venv(path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(path)],
        check=True,
        env=_pip_env(),
        timeout=120,
    )
    return path / "bin" / "python"


def _pip_install(python: Path, *args: str) -> None:
    # The pip next to the tests acts on the fresh venv (pip >= 22.3 --python).
    cmd = [
        sys.executable,
        "-m",
        "pip",
        "--python",
        str(python),
        "install",
        "--isolated",
        "--no-cache-dir",
        "--disable-pip-version-check",
        *args,
    ]
    proc = subprocess.run(
        cmd, env=_pip_env(), capture_output=True, text=True, timeout=300, check=False
    )
    assert proc.returncode == 0, f"{cmd}\n{proc.stdout}\n{proc.stderr}"


def _installed(python: Path) -> dict[str, str]:
    code = (
        "import importlib.metadata as m, json;"
        "print(json.dumps({d.metadata['Name'].lower(): d.version for d in m.distributions()}))"
    )
    out = subprocess.run(
        [str(python), "-I", "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    installed: dict[str, str] = json.loads(out.stdout)
    return installed


EXPECTED = {"alpha": "1.0", "beta": "1.0", "delta": "1.0+local", "epsilon": "1.0"}


@pytest.fixture(scope="module")
def written_bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    bundle = tmp_path_factory.mktemp("index") / "pypi"
    manifest = _bundle_manifest(bundle / "files")
    write_index(bundle, manifest, {"requirements.txt": _requirements_txt(manifest, EXPECTED)})
    return bundle


@pytest.mark.slow
def test_pip_installs_from_file_index(written_bundle: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    # beta 2.0 is yanked and 3.0 needs Python >= 4: pip must take 1.0 from the pages.
    _pip_install(python, "--index-url", (written_bundle / "simple").as_uri() + "/", "Alpha")
    assert _installed(python) == EXPECTED


@pytest.mark.slow
def test_pip_installs_from_find_links_with_hashes(written_bundle: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    _pip_install(
        python,
        "--no-index",
        "--find-links",
        str(written_bundle / "files"),
        "--require-hashes",
        "-r",
        str(written_bundle / "requirements.txt"),
    )
    assert _installed(python) == EXPECTED


@pytest.mark.slow
def test_pip_installs_from_static_web_server(written_bundle: Path, tmp_path: Path) -> None:
    python = _fresh_venv(tmp_path / "venv")
    with static_server(written_bundle) as base:
        _pip_install(python, "--index-url", f"{base}/simple/", "alpha")
    assert _installed(python) == EXPECTED
