"""PEP 751 pylock.toml: what bundler writes validates and selects with
packaging, installs with real uv and pip, and reads back; what pip, uv and
pdm write reads into the same pins."""

from __future__ import annotations

import datetime
import functools
import hashlib
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
from packaging.markers import Environment, Marker
from packaging.pylock import (
    PackageArchive,
    PackageSdist,
    PackageWheel,
    Pylock,
    PylockSelectError,
)
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.errors import BundlerError, InputFileError, MultipleErrors
from bundler.lock.merge import marker_for
from bundler.models import DistKind, IndexSettings, Lock, LockedFile, LockedPackage
from bundler.spec.pylock import environment_marker, lock_requires_python, render_pylock
from bundler.spec.pylockreader import read_pylock
from bundler.spec.target import Target, host_target, make_target
from tests.support.distbuilder import DistSpec, build_sdist, build_wheel
from tests.support.piputil import installed, make_venv, pip_run

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

BIN = Path(sys.executable).parent
INDEX = "https://user:s3cr3t@mirror.example/simple/"
FILES = "https://user:s3cr3t@mirror.example/files/"

LINUX = make_target("3.11", "manylinux_2_28_x86_64")
WINDOWS = make_target("3.12", "windows")
MACOS = make_target("3.12", "macos")
TARGETS = (LINUX, WINDOWS, MACOS)


def sha(seed: str) -> str:
    return hashlib.sha256(seed.encode()).hexdigest()


def name(text: str) -> NormalizedName:
    return canonicalize_name(text)


def wheel(filename: str, **fields: Any) -> LockedFile:
    fields.setdefault("url", FILES + filename)
    fields.setdefault("index", INDEX.replace("s3cr3t", "***"))
    return LockedFile(filename=filename, sha256=sha(filename), kind=DistKind.WHEEL, **fields)


def sdist(filename: str, **fields: Any) -> LockedFile:
    fields.setdefault("url", FILES + filename)
    fields.setdefault("index", INDEX.replace("s3cr3t", "***"))
    return LockedFile(filename=filename, sha256=sha(filename), kind=DistKind.SDIST, **fields)


def multi_target_lock() -> Lock:
    """Three targets; "native" has one wheel per platform, "compat" needs a
    different version on Windows, "flit-core" only builds an sdist."""
    win_only = marker_for([WINDOWS], TARGETS)
    not_win = marker_for([LINUX, MACOS], TARGETS)
    return Lock(
        packages=(
            LockedPackage(
                name("compat"),
                Version("2.0"),
                (wheel("compat-2.0-py3-none-any.whl"),),
                marker=not_win,
                via=("app",),
            ),
            LockedPackage(
                name("App"),
                Version("1.0"),
                (
                    wheel(
                        "app-1.0-py3-none-any.whl",
                        size=1234,
                        upload_time="2025-01-25T11:30:10.164985Z",
                        requires_python=">=3.10",
                    ),
                    sdist("app-1.0.tar.gz", size=999, requires_python=">=3.10"),
                ),
                via=("-r requirements.in",),
            ),
            LockedPackage(
                name("native"),
                Version("0.5"),
                (
                    wheel("native-0.5-cp311-cp311-manylinux_2_17_x86_64.whl"),
                    wheel("native-0.5-cp312-cp312-win_amd64.whl"),
                    wheel("native-0.5-cp312-cp312-macosx_11_0_arm64.whl"),
                    sdist("native-0.5.tar.gz"),
                ),
                via=("app",),
            ),
            LockedPackage(
                name("compat"),
                Version("1.5"),
                (wheel("compat-1.5-py3-none-any.whl"),),
                marker=win_only,
                via=("app",),
            ),
            LockedPackage(
                name("flit-core"),
                Version("3.9.0"),
                (wheel("flit_core-3.9.0-py3-none-any.whl"),),
                via=("native",),
                build_only=True,
            ),
        ),
        targets=tuple(t.name for t in TARGETS),
        indexes=IndexSettings(index_url=INDEX),
    )


def render(lock: Lock, **kwargs: Any) -> str:
    kwargs.setdefault("environments", [environment_marker(t) for t in TARGETS])
    kwargs.setdefault("requires_python", lock_requires_python(TARGETS))
    return render_pylock(lock, **kwargs)


def select(text: str, target: Target) -> dict[str, tuple[str, str]]:
    """name -> (version, file) that packaging's installer algorithm picks."""
    pylock = Pylock.from_dict(tomllib.loads(text))
    out: dict[str, tuple[str, str]] = {}
    environment = cast("Environment", dict(target.environment))
    for package, dist in pylock.select(environment=environment, tags=target.tags):
        assert isinstance(dist, (PackageWheel, PackageSdist, PackageArchive))
        filename = dist.filename if not isinstance(dist, PackageArchive) else dist.url or ""
        out[package.name] = (str(package.version), filename)
    return out


# --- writing ---------------------------------------------------------------------------


def test_multi_target_lock_validates_and_selects_the_locked_files_per_target() -> None:
    text = render(multi_target_lock())
    doc = tomllib.loads(text)
    pylock = Pylock.from_dict(doc)
    assert str(pylock.lock_version) == "1.0"
    assert pylock.created_by == "bundler"
    assert str(pylock.requires_python) == ">=3.11"
    assert [p.name for p in pylock.packages] == ["app", "compat", "compat", "native"]
    assert [str(p.version) for p in pylock.packages] == ["1.0", "1.5", "2.0", "0.5"]

    assert select(text, LINUX) == {
        "app": ("1.0", "app-1.0-py3-none-any.whl"),
        "compat": ("2.0", "compat-2.0-py3-none-any.whl"),
        "native": ("0.5", "native-0.5-cp311-cp311-manylinux_2_17_x86_64.whl"),
    }
    assert select(text, WINDOWS) == {
        "app": ("1.0", "app-1.0-py3-none-any.whl"),
        "compat": ("1.5", "compat-1.5-py3-none-any.whl"),
        "native": ("0.5", "native-0.5-cp312-cp312-win_amd64.whl"),
    }
    assert select(text, MACOS)["native"] == (
        "0.5",
        "native-0.5-cp312-cp312-macosx_11_0_arm64.whl",
    )
    # An environment the lock was not made for is refused, as PEP 751 requires.
    with pytest.raises(PylockSelectError, match="environments"):
        select(text, make_target("3.13", "manylinux_2_28_x86_64"))
    with pytest.raises(PylockSelectError, match="environments"):
        select(text, make_target("3.11", "manylinux_2_28_aarch64"))


def test_package_fields_follow_the_spec() -> None:
    doc = tomllib.loads(render(multi_target_lock()))
    app = doc["packages"][0]
    assert list(app) == ["name", "version", "requires-python", "index", "sdist", "wheels", "tool"]
    assert app["index"] == "https://mirror.example/simple/"
    assert app["requires-python"] == ">=3.10"
    assert app["sdist"] == {
        "name": "app-1.0.tar.gz",
        "url": "https://mirror.example/files/app-1.0.tar.gz",
        "size": 999,
        "hashes": {"sha256": sha("app-1.0.tar.gz")},
    }
    assert app["wheels"] == [
        {
            "name": "app-1.0-py3-none-any.whl",
            "upload-time": datetime.datetime(
                2025, 1, 25, 11, 30, 10, 164985, tzinfo=datetime.timezone.utc
            ),
            "url": "https://mirror.example/files/app-1.0-py3-none-any.whl",
            "size": 1234,
            "hashes": {"sha256": sha("app-1.0-py3-none-any.whl")},
        }
    ]
    assert app["tool"] == {"bundle": {"via": ["-r requirements.in"]}}
    native = doc["packages"][3]
    assert [w["name"] for w in native["wheels"]] == sorted(
        f.filename for f in multi_target_lock().packages[2].files if f.kind is DistKind.WHEEL
    )
    assert "marker" not in native and "requires-python" not in native
    compat = doc["packages"][1]
    assert compat["marker"] == 'sys_platform == "win32"'


def test_build_only_packages_are_kept_out_of_what_installers_select() -> None:
    text = render(multi_target_lock())
    doc = tomllib.loads(text)
    assert "flit-core" not in {p["name"] for p in doc["packages"]}
    build = doc["tool"]["bundle"]["build-packages"]
    assert [(p["name"], p["version"]) for p in build] == [("flit-core", "3.9.0")]
    # Same shape as [[packages]]: packaging accepts it as a package entry.
    Pylock.from_dict({"lock-version": "1.0", "created-by": "t", "packages": build})
    assert text.startswith("# This file is autogenerated by bundler")
    assert "[[tool.bundle.build-packages]]" in text.splitlines()[1]
    for target in TARGETS:
        assert "flit-core" not in select(text, target)


def test_only_the_files_targets_install_are_listed_when_the_lock_says_which() -> None:
    chosen = (LINUX.name, MACOS.name)
    lock = Lock(
        packages=(
            LockedPackage(
                name("app"),
                Version("1.0"),
                (
                    wheel("app-1.0-py3-none-any.whl", targets=chosen),
                    wheel("app-1.0-py2-none-any.whl"),
                    sdist("app-1.0.zip"),
                    sdist("app-1.0.tar.gz", targets=(WINDOWS.name,)),
                ),
            ),
            LockedPackage(
                name("old"), Version("1.0"), (sdist("old-1.0.zip"), sdist("old-1.0.tar.gz"))
            ),
        )
    )
    app, old = tomllib.loads(render(lock))["packages"]
    assert [w["name"] for w in app["wheels"]] == ["app-1.0-py3-none-any.whl"]
    assert app["sdist"]["name"] == "app-1.0.tar.gz"
    # Nothing says which: every wheel, and the one sdist PEP 751 allows (PEP 625's).
    assert old["sdist"]["name"] == "old-1.0.tar.gz"


def test_output_is_deterministic_whatever_the_package_order() -> None:
    lock = multi_target_lock()
    reordered = Lock(packages=tuple(reversed(lock.packages)), indexes=lock.indexes)
    assert render(lock) == render(reordered)


def test_credentials_never_written() -> None:
    lock = multi_target_lock()
    text = render(lock)
    assert "s3cr3t" not in text
    assert "user" not in text
    assert "***" not in text
    assert "#sha256" not in text


def test_direct_reference_becomes_an_archive() -> None:
    url = "https://user:s3cr3t@git.example/dl/tool-0.3-py3-none-any.whl"
    lock = Lock(
        packages=(
            LockedPackage(
                name("tool"),
                Version("0.3"),
                (wheel("tool-0.3-py3-none-any.whl", url=url.replace("s3cr3t", "***")),),
                direct_url=url.replace("s3cr3t", "***"),
            ),
        )
    )
    text = render(lock)
    package = tomllib.loads(text)["packages"][0]
    assert package["archive"] == {
        "url": "https://git.example/dl/tool-0.3-py3-none-any.whl",
        "hashes": {"sha256": sha("tool-0.3-py3-none-any.whl")},
    }
    assert "wheels" not in package and "index" not in package
    assert select(text, LINUX) == {
        "tool": ("0.3", "https://git.example/dl/tool-0.3-py3-none-any.whl")
    }


def test_files_can_be_located_by_relative_path() -> None:
    text = render(multi_target_lock(), file_location=lambda f: ("path", f"files/{f.filename}"))
    doc = tomllib.loads(text)
    for package in [*doc["packages"], *doc["tool"]["bundle"]["build-packages"]]:
        for entry in [*package.get("wheels", []), package.get("sdist")]:
            if entry is None:
                continue
            assert entry["path"] == f"files/{entry['name']}"
            assert "url" not in entry
    Pylock.from_dict(doc)


def test_index_is_written_only_for_a_configured_index() -> None:
    lock = Lock(
        packages=(
            LockedPackage(
                name("a"), Version("1"), (wheel("a-1-py3-none-any.whl", index="/srv/wheels"),)
            ),
            LockedPackage(name("b"), Version("1"), (wheel("b-1-py3-none-any.whl"),)),
        ),
        indexes=IndexSettings(index_url=INDEX, find_links=("/srv/wheels",)),
    )
    a, b = tomllib.loads(render(lock))["packages"]
    assert "index" not in a  # a find-links location is not a PEP 503 index
    assert b["index"] == "https://mirror.example/simple/"
    bundle = Lock(packages=lock.packages, indexes=IndexSettings(index_url=None))
    assert all("index" not in p for p in tomllib.loads(render(bundle))["packages"])


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("2025-01-25T11:30:10.164985Z", datetime.datetime(2025, 1, 25, 11, 30, 10, 164985)),
        ("2025-01-25T13:30:10+02:00", datetime.datetime(2025, 1, 25, 11, 30, 10)),
        ("2025-01-25T11:30:10", datetime.datetime(2025, 1, 25, 11, 30, 10)),
        ("last tuesday", None),
    ],
)
def test_upload_time_is_a_utc_toml_datetime(given: str, expected: datetime.datetime | None) -> None:
    lock = Lock(
        packages=(
            LockedPackage(
                name("a"), Version("1"), (wheel("a-1-py3-none-any.whl", upload_time=given),)
            ),
        )
    )
    entry = tomllib.loads(render(lock))["packages"][0]["wheels"][0]
    if expected is None:
        assert "upload-time" not in entry
    else:
        assert entry["upload-time"] == expected.replace(tzinfo=datetime.timezone.utc)


def test_strings_are_escaped_per_toml() -> None:
    awkward = ('say "hi"', "it's", "tab\there\nnew line\x01\x7f", "back\\slash", "ünïcödé")
    environments = ['platform_version == "it\'s"', 'os_name == "nt"']
    lock = Lock(
        packages=(
            LockedPackage(name("a"), Version("1"), (wheel("a-1-py3-none-any.whl"),), via=awkward),
        )
    )
    doc = tomllib.loads(render(lock, environments=environments, created_by='bund"ler'))
    assert doc["packages"][0]["tool"]["bundle"]["via"] == sorted(awkward)
    assert [str(Marker(m)) for m in doc["environments"]] == [str(Marker(m)) for m in environments]
    assert doc["created-by"] == 'bund"ler'


def test_missing_hashes_and_locations_are_reported_together() -> None:
    lock = Lock(
        packages=(
            LockedPackage(
                name("a"),
                Version("1"),
                (LockedFile("a-1-py3-none-any.whl", "", DistKind.WHEEL, url=FILES + "a"),),
            ),
            LockedPackage(
                name("b"),
                Version("1"),
                (LockedFile("b-1-py3-none-any.whl", sha("b"), DistKind.WHEEL),),
            ),
            LockedPackage(name("c"), Version("1"), ()),
        )
    )
    with pytest.raises(BundlerError) as info:
        render(lock)
    message = str(info.value)
    assert "a-1-py3-none-any.whl: no sha256 hash" in message
    assert "b-1-py3-none-any.whl: no URL or path" in message
    assert "c==1: no locked file" in message


def test_environment_markers_match_only_their_target() -> None:
    for target in TARGETS:
        marker = Marker(environment_marker(target))
        assert [marker.evaluate(dict(t.environment)) for t in TARGETS] == [
            t is target for t in TARGETS
        ]
    # 32-bit Python on 64-bit Windows says AMD64: the arch is left to the tags.
    assert "platform_machine" not in environment_marker(make_target("3.12", "win32"))
    assert lock_requires_python([WINDOWS, LINUX]) == ">=3.11"
    assert lock_requires_python([]) is None


# --- reading ---------------------------------------------------------------------------


def test_round_trip_through_read_pylock() -> None:
    lock = multi_target_lock()
    text = render(lock)
    got = read_pylock(text, "pylock.toml")
    assert got.path == "pylock.toml"
    pins = sorted(got.pins, key=lambda p: (p.name, p.version))
    expected = sorted(lock.packages, key=lambda p: (p.name, p.version))
    assert [(p.name, p.version) for p in pins] == [(p.name, p.version) for p in expected]
    for pin, package in zip(pins, expected, strict=True):
        assert pin.hashes == tuple(sorted(f"sha256:{f.sha256}" for f in package.files))
        assert pin.marker == (str(Marker(package.marker)) if package.marker else None)
        assert pin.via == package.via
        assert pin.build_only is package.build_only
        assert pin.url is None
    lines = text.splitlines()
    for pin in pins:
        line = int(pin.source.rsplit(":", 1)[1])
        assert lines[line - 1] in ("[[packages]]", "[[tool.bundle.build-packages]]")
        assert lines[line] == f'name = "{pin.name}"'
    assert got.indexes == IndexSettings(index_url="https://mirror.example/simple/")


def test_read_direct_reference_keeps_its_url() -> None:
    url = "https://git.example/dl/tool-0.3-py3-none-any.whl"
    lock = Lock(
        packages=(
            LockedPackage(
                name("tool"),
                Version("0.3"),
                (wheel("tool-0.3-py3-none-any.whl", url=url),),
                direct_url=url,
            ),
        )
    )
    (pin,) = read_pylock(render(lock), "pylock.toml").pins
    assert (pin.name, pin.version, pin.url) == ("tool", Version("0.3"), url)


def test_bundle_pylock_reads_with_its_files_directory_as_find_links(tmp_path: Path) -> None:
    text = render(multi_target_lock(), file_location=lambda f: ("path", f"files/{f.filename}"))
    got = read_pylock(text, os.path.join("out", "pypi", "pylock.toml"))
    # Everything is local: no index is needed, only the bundle's files/.
    assert got.indexes == IndexSettings(
        index_url="https://mirror.example/simple/",
        find_links=(os.path.join("out", "pypi", "files"),),
    )
    no_index = Lock(packages=multi_target_lock().packages, indexes=IndexSettings(index_url=None))
    text = render(no_index, file_location=lambda f: ("path", f"files/{f.filename}"))
    got = read_pylock(text, os.path.join("out", "pypi", "pylock.toml"))
    assert got.indexes == IndexSettings(
        index_url=None, find_links=(os.path.join("out", "pypi", "files"),)
    )


PDM_STYLE = """\
lock-version = "1.0"
requires-python = ">=3.9"
environments = ["python_version >= '3.9'"]
extras = ["socks"]
dependency-groups = ["dev"]
default-groups = ["default"]
created-by = "pdm"

[[packages]]
name = "alpha"
version = "1.0"
requires-python = ">=3.8"
marker = "'default' in dependency_groups"
[[packages.wheels]]
name = "alpha-1.0-py3-none-any.whl"
url = "https://pypi.example/a/alpha-1.0-py3-none-any.whl"
hashes = { sha256 = "%(a)s" }
[packages.tool.pdm]
dependencies = ["beta"]

[[packages]]
name = "pysocks"
version = "1.7.1"
marker = "'socks' in extras"
[[packages.wheels]]
name = "PySocks-1.7.1-py3-none-any.whl"
url = "https://pypi.example/p/PySocks-1.7.1-py3-none-any.whl"
hashes = { sha256 = "%(p)s" }

[[packages]]
name = "pytest"
version = "8.0.0"
marker = "python_version >= '3.10' and 'dev' in dependency_groups"
[packages.sdist]
name = "pytest-8.0.0.tar.gz"
url = "https://pypi.example/p/pytest-8.0.0.tar.gz"
hashes = { sha256 = "%(t)s" }

[[packages]]
name = "colorama"
version = "0.4.6"
marker = "os_name == 'nt' and ('default' in dependency_groups or 'dev' in dependency_groups)"
[[packages.wheels]]
name = "colorama-0.4.6-py2.py3-none-any.whl"
url = "https://pypi.example/c/colorama-0.4.6-py2.py3-none-any.whl"
hashes = { sha256 = "%(c)s" }

[tool.pdm]
hashes = { sha256 = "%(h)s" }
""" % {k: sha(k) for k in "apthc"}


def test_pdm_markers_on_groups_and_extras_are_decided_at_read_time() -> None:
    Pylock.from_dict(tomllib.loads(PDM_STYLE))  # the sample itself is valid
    default = {p.name: p.marker for p in read_pylock(PDM_STYLE, "pylock.toml").pins}
    assert default == {"alpha": None, "colorama": 'os_name == "nt"'}
    everything = read_pylock(
        PDM_STYLE, "pylock.toml", extras=["socks"], dependency_groups=["default", "dev"]
    )
    assert {p.name: p.marker for p in everything.pins} == {
        "alpha": None,
        "pysocks": None,
        "pytest": 'python_version >= "3.10"',
        "colorama": 'os_name == "nt"',
    }
    dev_only = read_pylock(PDM_STYLE, "pylock.toml", dependency_groups=["dev"])
    assert {p.name for p in dev_only.pins} == {"pytest", "colorama"}
    # No index named: the files are remote, so pip's default index applies.
    assert everything.indexes == IndexSettings()
    with pytest.raises(InputFileError, match="declares no dependency groups docs"):
        read_pylock(PDM_STYLE, "pylock.toml", dependency_groups=["docs"])


BROKEN = """\
lock-version = "1.0"
created-by = "someone"

[[packages]]
name = "good"
version = "1.0"
wheels = [{ path = "good-1.0-py3-none-any.whl", hashes = { sha256 = "%(g)s" } }]

[[packages]]
name = "nohash"
version = "1.0"
wheels = [{ path = "nohash-1.0-py3-none-any.whl" }]

[[packages]]
name = "fromgit"
vcs = { type = "git", url = "https://git.example/fromgit", commit-id = "abc123" }

[[packages]]
name = "Not_Normal"
version = "1.0"
wheels = [{ path = "not_normal-1.0-py3-none-any.whl", hashes = { sha256 = "%(n)s" } }]

[[packages]]
name = "weak"
version = "1.0"
wheels = [{ path = "weak-1.0-py3-none-any.whl", hashes = { md5 = "%(m)s" } }]

[[packages]]
name = "good"
version = "1.1"
wheels = [{ path = "good-1.1-py3-none-any.whl", hashes = { sha256 = "%(h)s" } }]
""" % {"m": "0123456789abcdef0123456789abcdef", **{k: sha(k) for k in "gnh"}}  # noqa: UP031


def test_every_problem_is_reported_with_its_line() -> None:
    with pytest.raises(MultipleErrors) as info:
        read_pylock(BROKEN, "locks/pylock.toml")
    errors = info.value.errors
    assert info.value.exit_code == 2
    headers = [n for n, line in enumerate(BROKEN.splitlines(), 1) if line == "[[packages]]"]
    assert [getattr(e, "line", None) for e in errors] == headers[1:]
    text = [str(e) for e in errors]
    assert text[0].startswith(f"locks/pylock.toml:{headers[1]}: packages[1]: ")
    assert "hashes" in text[0]
    assert "fromgit: VCS sources cannot be bundled" in text[1]
    assert "not normalized" in text[2]
    assert "weak-1.0-py3-none-any.whl has no sha256, sha384 or sha512 hash" in text[3]
    assert "good is locked twice for the same environments" in text[4]


def test_invalid_toml_and_unsupported_versions_are_refused() -> None:
    with pytest.raises(InputFileError) as info:
        read_pylock('lock-version = "1.0"\ncreated-by = \n', "pylock.toml")
    assert info.value.line == 2
    with pytest.raises(InputFileError, match="not supported"):
        read_pylock('lock-version = "2.0"\ncreated-by = "x"\npackages = []\n', "pylock.toml")
    with pytest.raises(InputFileError, match="packages"):
        read_pylock('lock-version = "1.0"\ncreated-by = "x"\n', "pylock.toml")


# --- real installers and lockers -------------------------------------------------------


def tool(executable: str) -> str:
    found = BIN / executable
    if found.exists():
        return str(found)
    which = shutil.which(executable)
    if which is None:
        pytest.skip(f"{executable} is not installed")
    return which


def uv_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "UV_"))}
    env.update(
        PIP_CONFIG_FILE=os.devnull,
        UV_NO_CONFIG="1",
        UV_OFFLINE="1",
        UV_PYTHON_DOWNLOADS="never",
        UV_CACHE_DIR=str(tmp_path / "uv-cache"),
    )
    return env


@functools.cache
def pip_reads_pylock() -> bool:
    # pip takes "-r pylock.toml" from 25.x on (experimental); older pips do not.
    return "pylock" in pip_run(["install", "--help"]).stdout


@dataclass(frozen=True)
class Bundle:
    root: Path
    lock: Lock
    host_beta: str


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_bundle(root: Path, environments: list[str] | None = None) -> Bundle:
    """A bundle-like directory: files/ plus a pylock.toml with relative paths.

    alpha needs beta; the host gets beta 1.0 and a foreign target beta 2.0;
    hatchling-ish "backend" is build-only.
    """
    files = root / "files"
    host = host_target()
    foreign = (
        make_target("3.12", "windows") if host.environment["sys_platform"] != "win32" else LINUX
    )
    specs = {
        "alpha": DistSpec("alpha", "1.0", requires=("beta",)),
        "beta1": DistSpec("beta", "1.0"),
        "beta2": DistSpec("beta", "2.0"),
        "backend": DistSpec("backend", "9.0"),
    }

    def locked(spec: DistSpec, with_sdist: bool = False) -> tuple[LockedFile, ...]:
        built = [build_wheel(spec, "py3-none-any", files)]
        if with_sdist:
            built.append(build_sdist(spec, files))
        return tuple(
            LockedFile(
                filename=p.name,
                sha256=digest(p),
                kind=DistKind.WHEEL if p.suffix == ".whl" else DistKind.SDIST,
                url=f"https://unreachable.invalid/{p.name}",
                size=p.stat().st_size,
            )
            for p in built
        )

    lock = Lock(
        packages=(
            LockedPackage(name("alpha"), Version("1.0"), locked(specs["alpha"], True)),
            LockedPackage(
                name("beta"),
                Version("1.0"),
                locked(specs["beta1"]),
                marker=marker_for([host], [host, foreign]),
            ),
            LockedPackage(
                name("beta"),
                Version("2.0"),
                locked(specs["beta2"]),
                marker=marker_for([foreign], [host, foreign]),
            ),
            LockedPackage(
                name("backend"), Version("9.0"), locked(specs["backend"]), build_only=True
            ),
        ),
        indexes=IndexSettings(index_url=None),
    )
    if environments is None:
        environments = [environment_marker(host), environment_marker(foreign)]
    text = render_pylock(
        lock,
        environments=environments,
        requires_python=lock_requires_python([host, foreign]),
        file_location=lambda f: ("path", f"files/{f.filename}"),
    )
    (root / "pylock.toml").write_text(text, encoding="utf-8")
    return Bundle(root, lock, "1.0")


def install(installer: str, pylock: Path, python: Path, tmp_path: Path) -> tuple[bool, str]:
    """Install a pylock.toml with real uv or pip, offline and isolated."""
    if installer == "uv":
        command = [tool("uv"), "pip", "install", "--python", str(python), "-r", str(pylock)]
        proc = subprocess.run(
            command,
            env=uv_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        return proc.returncode == 0, proc.stdout + proc.stderr
    if not pip_reads_pylock():
        pytest.skip("this pip cannot install from pylock.toml")
    try:
        done = pip_run(["install", "--no-index", "-r", str(pylock)], python=python)
    except AssertionError as err:  # pip_run's report of a failed run
        return False, str(err)
    return True, done.describe()


INSTALLERS = ["uv", "pip"]


@pytest.mark.slow
@pytest.mark.parametrize("installer", INSTALLERS)
def test_installers_install_exactly_the_locked_versions(tmp_path: Path, installer: str) -> None:
    bundle = write_bundle(tmp_path / "pypi")
    python = make_venv(tmp_path / "venv")
    ok, output = install(installer, bundle.root / "pylock.toml", python, tmp_path)
    assert ok, output
    # The host's beta, not the foreign target's; no build-only package.
    assert installed(python) == {"alpha": "1.0", "beta": bundle.host_beta}


@pytest.mark.slow
@pytest.mark.parametrize("installer", INSTALLERS)
def test_installers_refuse_an_environment_the_lock_does_not_cover(
    tmp_path: Path, installer: str
) -> None:
    foreign = make_target("3.12", "windows") if sys.platform != "win32" else LINUX
    bundle = write_bundle(tmp_path / "pypi", environments=[environment_marker(foreign)])
    python = make_venv(tmp_path / "venv")
    ok, output = install(installer, bundle.root / "pylock.toml", python, tmp_path)
    assert not ok, output
    assert "environment" in output.lower()
    assert installed(python) == {}


@pytest.mark.slow
@pytest.mark.parametrize("installer", INSTALLERS)
def test_installers_check_the_locked_hashes(tmp_path: Path, installer: str) -> None:
    bundle = write_bundle(tmp_path / "pypi")
    files = bundle.root / "files"
    # A file changed after locking: same name and size, other bytes (the
    # modification time of its first member, so it still unzips).
    target = files / "beta-1.0-py3-none-any.whl"
    data = bytearray(target.read_bytes())
    assert data[:4] == b"PK\x03\x04"
    data[10] ^= 0x01
    target.write_bytes(bytes(data))
    python = make_venv(tmp_path / "venv")
    ok, output = install(installer, bundle.root / "pylock.toml", python, tmp_path)
    assert not ok, output
    assert "hash" in output.lower()
    assert "beta" not in installed(python)


@pytest.fixture
def wheels(tmp_path: Path) -> dict[str, Path]:
    """A find-links directory of wheels: alpha needs beta, and gamma on Windows."""
    out = tmp_path / "wheels"
    specs = [
        DistSpec("alpha", "1.0", requires=("beta>=1", "gamma; sys_platform == 'win32'")),
        DistSpec("beta", "2.0"),
        DistSpec("beta", "1.0"),
        DistSpec("gamma", "3.0"),
    ]
    built = {}
    for spec in specs:
        path = build_wheel(spec, "py3-none-any", out)
        built[path.name] = path
    return built


def pins_by_name(text: str, path: str) -> dict[str, tuple[str, tuple[str, ...], str | None]]:
    return {p.name: (str(p.version), p.hashes, p.marker) for p in read_pylock(text, path).pins}


def test_read_real_uv_pip_compile_pylock(tmp_path: Path, wheels: dict[str, Path]) -> None:
    (tmp_path / "requirements.in").write_text("alpha\n")
    subprocess.run(
        [
            tool("uv"),
            "pip",
            "compile",
            "--universal",
            "--format",
            "pylock.toml",
            "--no-index",
            "--find-links",
            str(tmp_path / "wheels"),
            "--output-file",
            "pylock.toml",
            "requirements.in",
        ],
        cwd=tmp_path,
        env=uv_env(tmp_path),
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = (tmp_path / "pylock.toml").read_text()
    got = pins_by_name(text, str(tmp_path / "pylock.toml"))
    h = {n.split("-")[0] + n.split("-")[1]: (f"sha256:{digest(p)}",) for n, p in wheels.items()}
    assert got == {
        "alpha": ("1.0", h["alpha1.0"], None),
        "beta": ("2.0", h["beta2.0"], None),
        "gamma": ("3.0", h["gamma3.0"], 'sys_platform == "win32"'),
    }
    indexes = read_pylock(text, str(tmp_path / "pylock.toml")).indexes
    assert indexes.index_url is None
    assert [Path(f).resolve() for f in indexes.find_links] == [(tmp_path / "wheels").resolve()]


def test_read_real_uv_export_pylock(tmp_path: Path, wheels: dict[str, Path]) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(
        '[project]\nname = "proj"\nversion = "0.1"\nrequires-python = ">=3.10"\n'
        'dependencies = ["alpha"]\n[tool.uv]\npackage = false\n'
    )
    links = ["--no-index", "--find-links", str(tmp_path / "wheels")]
    for args in (["lock", *links], ["export", "--format", "pylock.toml", "-o", "pylock.toml"]):
        subprocess.run(
            [tool("uv"), *args, *(links if args[0] == "export" else [])],
            cwd=project,
            env=uv_env(tmp_path),
            check=True,
            capture_output=True,
            timeout=120,
        )
    text = (project / "pylock.toml").read_text()
    assert 'index = "file://' in text  # uv names the find-links directory as the index
    lock_input = read_pylock(text, str(project / "pylock.toml"))
    assert sorted(p.name for p in lock_input.pins) == ["alpha", "beta", "gamma"]
    # A find-links directory is not a PEP 503 index: it becomes find-links.
    assert lock_input.indexes.index_url is None
    assert [Path(f).resolve() for f in lock_input.indexes.find_links] == [
        (tmp_path / "wheels").resolve()
    ]


def test_read_real_pip_lock(tmp_path: Path, wheels: dict[str, Path]) -> None:
    if not re.search(r"^\s+lock\s", pip_run(["--help"]).stdout, re.MULTILINE):
        pytest.skip("this pip has no 'pip lock'")
    pip_run(
        [
            "lock",
            "--no-index",
            "--find-links",
            str(tmp_path / "wheels"),
            "-o",
            str(tmp_path / "pylock.toml"),
            "alpha",
        ],
        cwd=tmp_path,
    )
    text = (tmp_path / "pylock.toml").read_text()
    got = pins_by_name(text, str(tmp_path / "pylock.toml"))
    # pip locks for this machine only; gamma is for Windows.
    expected = {"alpha": "alpha-1.0-py3-none-any.whl", "beta": "beta-2.0-py3-none-any.whl"}
    if sys.platform == "win32":  # pragma: no cover
        expected["gamma"] = "gamma-3.0-py3-none-any.whl"
    assert got == {
        n: (f.split("-")[1], (f"sha256:{digest(wheels[f])}",), None) for n, f in expected.items()
    }
    indexes = read_pylock(text, str(tmp_path / "pylock.toml")).indexes
    assert indexes.index_url is None
    assert [Path(f).resolve() for f in indexes.find_links] == [(tmp_path / "wheels").resolve()]
