"""Build real, tiny distributions in-process from a declarative spec.

Wheels follow the binary distribution format (RECORD with urlsafe-b64
sha256 digests); sdists follow PEP 625 and carry an in-tree PEP 517 backend,
so pip builds them offline without any build dependency.  The same backend
can also be published as a wheel of its own (``backend_wheel_spec``) and
named by an sdist's ``[build-system]`` (``DistSpec.build_backend``), so a
build needs that wheel, and whatever it requires, at hand.  Archives are
byte-for-byte deterministic: the same spec always gives the same sha256.
"""

from __future__ import annotations

import inspect
import json
import re
import textwrap
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.requirements import Requirement
from packaging.tags import parse_tag
from packaging.utils import canonicalize_name
from packaging.version import Version

BACKEND_MODULE = "bundler_test_backend"
BACKEND_DIR = "_backend"
WHEEL_METADATA_VERSION = "2.1"


@dataclass(frozen=True)
class DistSpec:
    """One release of one project: what to build and what its metadata says."""

    name: str
    version: str
    # Requires-Dist lines (PEP 508, may carry markers and extras).
    requires: tuple[str, ...] = ()
    # extra -> requirements; emitted as Provides-Extra and 'req; extra == "x"'.
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    requires_python: str | None = None
    # One wheel per tag string; compressed tag sets ("py2.py3-none-any") allowed.
    wheel_tags: tuple[str, ...] = ("py3-none-any",)
    wheel: bool = True
    sdist: bool = True
    # Index-level yank (PEP 592): the reason, "" for no reason, None if not yanked.
    yanked: str | None = None
    # Extra entries of the sdist's [build-system] requires.
    build_requires: tuple[str, ...] = ()
    # PEP 643: list Requires-Dist as Dynamic (and omit it) in the sdist's PKG-INFO.
    dynamic_metadata: bool = False
    # Metadata-Version of the sdist's PKG-INFO; below 2.2 it is all dynamic (PEP 643).
    sdist_metadata_version: str = "2.2"
    # Ship the test PEP 517 backend as this project's module (importing every
    # Requires-Dist at import time, so a missing one breaks the build).
    backend_module: bool = False
    # The sdist builds with this project's published backend (a spec with
    # backend_module=True) instead of the in-tree one: no backend-path.
    build_backend: str | None = None
    # What the backend's get_requires_for_build_wheel returns (PEP 517); the
    # build imports each of them, so each must really be installed.
    wheel_build_requires: tuple[str, ...] = ()
    # The classic internal-index sdist: named ``{name}-{version}.tar.gz`` with
    # the name as written (not PEP 625), a setup.py, a Metadata-Version 1.0
    # PKG-INFO (so its dependencies are dynamic) and no pyproject.toml; it
    # builds with setuptools' legacy backend (``setuptools_stub_spec``).
    legacy_sdist: bool = False
    # Ship a stand-in for setuptools (``setup()`` and the legacy backend
    # ``setuptools.build_meta:__legacy__``, which runs setup.py) as this
    # project's module; see ``setuptools_stub_spec``.
    setuptools_stub: bool = False
    # More core metadata header lines, in METADATA and PKG-INFO alike
    # (e.g. "License-Expression: MIT").
    metadata_fields: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists (as read from TOML) while keeping the value immutable.
        for name in ("requires", "wheel_tags", "build_requires", "wheel_build_requires"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        frozen = {extra: tuple(reqs) for extra, reqs in self.extras.items()}
        object.__setattr__(self, "extras", frozen)
        Version(self.version)  # fail early on an invalid version
        for tag in self.wheel_tags:
            parse_tag(tag)

    @property
    def project(self) -> str:
        """The normalized project name (PEP 503)."""
        return canonicalize_name(self.name)


def _escape(name: str) -> str:
    # Binary distribution format: normalized name with "_" for separators.
    return canonicalize_name(name).replace("-", "_")


def _version(spec: DistSpec) -> str:
    return str(Version(spec.version))


def module_name(spec: DistSpec) -> str:
    """Name of the importable package every distribution of ``spec`` ships."""
    return _escape(spec.name)


def wheel_filename(spec: DistSpec, tag: str) -> str:
    return f"{_escape(spec.name)}-{_version(spec)}-{tag}.whl"


def sdist_filename(spec: DistSpec) -> str:
    if spec.legacy_sdist:
        return f"{spec.name}-{spec.version}.tar.gz"  # as setup.py sdist named them
    # PEP 625: {normalized_name_with_underscores}-{version}.tar.gz
    return f"{_escape(spec.name)}-{_version(spec)}.tar.gz"


def filenames(spec: DistSpec) -> list[str]:
    """Every file ``build_all`` makes for ``spec``, in build order."""
    names = [wheel_filename(spec, tag) for tag in spec.wheel_tags] if spec.wheel else []
    if spec.sdist:
        names.append(sdist_filename(spec))
    return names


def yanked_files(specs: Iterable[DistSpec]) -> dict[str, str]:
    """filename -> yank reason, for every file of a yanked spec."""
    return {
        filename: spec.yanked
        for spec in specs
        if spec.yanked is not None
        for filename in filenames(spec)
    }


def _requirement_lines(spec: DistSpec) -> list[str]:
    lines = list(spec.requires)
    for extra, reqs in spec.extras.items():
        for text in reqs:
            req = Requirement(text)
            marker = f'extra == "{extra}"'
            if req.marker is not None:
                marker = f"({req.marker}) and {marker}"
            req.marker = None
            lines.append(f"{req}; {marker}")
    return lines


def core_metadata(spec: DistSpec, *, metadata_version: str = WHEEL_METADATA_VERSION) -> str:
    """The wheel's METADATA text (core metadata, email header format)."""
    lines = [
        f"Metadata-Version: {metadata_version}",
        f"Name: {spec.name}",
        f"Version: {_version(spec)}",
    ]
    if spec.requires_python is not None:
        lines.append(f"Requires-Python: {spec.requires_python}")
    lines.extend(spec.metadata_fields)
    lines.extend(f"Provides-Extra: {extra}" for extra in spec.extras)
    lines.extend(f"Requires-Dist: {line}" for line in _requirement_lines(spec))
    return "\n".join(lines) + "\n\n"


def _pkg_info(spec: DistSpec) -> str:
    version = spec.sdist_metadata_version
    lines = [f"Metadata-Version: {version}", f"Name: {spec.name}", f"Version: {_version(spec)}"]
    if spec.requires_python is not None:
        lines.append(f"Requires-Python: {spec.requires_python}")
    lines.extend(spec.metadata_fields)
    lines.extend(f"Provides-Extra: {extra}" for extra in spec.extras)
    if spec.dynamic_metadata:
        # PEP 643: Dynamic exists from 2.2; before that everything is dynamic.
        if Version(version) >= Version("2.2"):
            lines.append("Dynamic: Requires-Dist")
    else:
        lines.extend(f"Requires-Dist: {line}" for line in _requirement_lines(spec))
    return "\n".join(lines) + "\n\n"


def _module_files(spec: DistSpec) -> list[tuple[str, bytes]]:
    source = f'"""{spec.name} {_version(spec)}"""\n\n__version__ = "{_version(spec)}"\n'
    if spec.backend_module:
        imports = [_escape(Requirement(req).name) for req in spec.requires]
        source = _backend_source(imports) + f'\n__version__ = "{_version(spec)}"\n'
    if spec.setuptools_stub:
        return [
            (f"{module_name(spec)}/__init__.py", _SETUPTOOLS_INIT.encode()),
            (f"{module_name(spec)}/build_meta.py", _setuptools_build_meta().encode()),
        ]
    return [(f"{module_name(spec)}/__init__.py", source.encode())]


def _wheel_text(tag: str, generator: str = "bundler-tests") -> str:
    tags = sorted(str(t) for t in parse_tag(tag))
    pure = all(t.endswith("-none-any") for t in tags)
    lines = [
        "Wheel-Version: 1.0",
        f"Generator: {generator}",
        f"Root-Is-Purelib: {'true' if pure else 'false'}",
        *(f"Tag: {t}" for t in tags),
    ]
    return "\n".join(lines) + "\n\n"


# The two archive writers below are copied verbatim into every sdist's in-tree
# backend (see _backend_source), so they use only the standard library.


def write_wheel_archive(path: str, files: list[tuple[str, bytes]], record: str) -> None:
    """Zip ``files`` plus a RECORD at ``record``; fixed timestamps and order."""
    import base64
    import hashlib
    import zipfile

    rows = []
    for name, data in files:
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
        rows.append(f"{name},sha256={digest.decode('ascii')},{len(data)}")
    rows.append(f"{record},,")
    entries = [*files, (record, ("\n".join(rows) + "\n").encode("utf-8"))]
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)


def write_sdist_archive(path: str, files: list[tuple[str, bytes]]) -> None:
    """A gzipped ustar archive of ``files``; fixed mtimes, owners and order."""
    import gzip
    import io
    import tarfile

    with (
        open(path, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.USTAR_FORMAT) as archive,
    ):
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1577836800
            info.mode = 0o644
            archive.addfile(info, io.BytesIO(data))


_BACKEND_HOOKS = """
def _wheel_requires():
    path = os.path.join(BACKEND_DIR, "WHEEL_REQUIRES")
    if not os.path.exists(path):
        return []
    with open(path, encoding="utf-8") as fh:
        return [line.strip() for line in fh if line.strip()]


def _import_wheel_requires():
    for requirement in _wheel_requires():
        name = re.match(r"[A-Za-z0-9._-]+", requirement).group(0)
        importlib.import_module(re.sub(r"[-_.]+", "_", name).lower())


def _metadata():
    with open(os.path.join(BACKEND_DIR, "METADATA"), "rb") as fh:
        data = fh.read()
    headers = email.parser.BytesParser().parsebytes(data, headersonly=True)
    name = re.sub(r"[-_.]+", "_", headers["Name"]).lower()
    return data, name, headers["Version"]


def _tree(top):
    found = []
    for root, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for filename in files:
            path = os.path.join(root, filename)
            with open(path, "rb") as fh:
                found.append((os.path.relpath(path).replace(os.sep, "/"), fh.read()))
    return found


def _dist_info(directory, metadata, name, version):
    dist_info = f"{name}-{version}.dist-info"
    os.makedirs(os.path.join(directory, dist_info), exist_ok=True)
    for filename, data in (("METADATA", metadata), ("WHEEL", WHEEL.encode("utf-8"))):
        with open(os.path.join(directory, dist_info, filename), "wb") as fh:
            fh.write(data)
    return dist_info


def get_requires_for_build_wheel(config_settings=None):
    return _wheel_requires()


def get_requires_for_build_sdist(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    _import_wheel_requires()
    return _dist_info(metadata_directory, *_metadata())


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _import_wheel_requires()
    metadata, name, version = _metadata()
    dist_info = f"{name}-{version}.dist-info"
    files = sorted(_tree(name))
    files += [(f"{dist_info}/METADATA", metadata), (f"{dist_info}/WHEEL", WHEEL.encode())]
    filename = f"{name}-{version}-{TAG}.whl"
    write_wheel_archive(os.path.join(wheel_directory, filename), files, f"{dist_info}/RECORD")
    return filename


def build_sdist(sdist_directory, config_settings=None):
    _, name, version = _metadata()
    files = sorted((f"{name}-{version}/{path}", data) for path, data in _tree("."))
    filename = f"{name}-{version}.tar.gz"
    write_sdist_archive(os.path.join(sdist_directory, filename), files)
    return filename
"""

BACKEND_TAG = "py3-none-any"


def _backend_source(imports: Iterable[str] = ()) -> str:
    """The test PEP 517 backend's source; it imports ``imports`` first."""
    header = [
        '"""PEP 517 backend: builds a pure wheel from the source tree it runs in."""',
        "",
        "import email.parser",
        "import importlib",
        "import os",
        "import re",
        "",
        *(f"import {module}" for module in imports),
        f"BACKEND_DIR = {BACKEND_DIR!r}",
        f"TAG = {BACKEND_TAG!r}",
        f"WHEEL = {_wheel_text(BACKEND_TAG)!r}",
        "",
    ]
    parts = [inspect.getsource(write_wheel_archive), inspect.getsource(write_sdist_archive)]
    return (
        "\n".join(header) + "\n" + "\n\n".join(textwrap.dedent(p) for p in parts) + _BACKEND_HOOKS
    )


def _toml_strings(values: Iterable[str]) -> str:
    # JSON strings are TOML basic strings: requirements may hold quotes (markers).
    return ", ".join(json.dumps(value) for value in values)


def _pyproject(spec: DistSpec) -> str:
    if spec.build_backend is not None:
        requires = _toml_strings((spec.build_backend, *spec.build_requires))
        return (
            "[build-system]\n"
            f"requires = [{requires}]\n"
            f'build-backend = "{_escape(spec.build_backend)}"\n'
        )
    requires = _toml_strings(spec.build_requires)
    return (
        "[build-system]\n"
        f"requires = [{requires}]\n"
        f'build-backend = "{BACKEND_MODULE}"\n'
        f'backend-path = ["{BACKEND_DIR}"]\n'
    )


def build_wheel(spec: DistSpec, tag: str, out_dir: Path) -> Path:
    """Write the wheel of ``spec`` for one (possibly compressed) tag set."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dist_info = f"{_escape(spec.name)}-{_version(spec)}.dist-info"
    files = [
        *_module_files(spec),
        (f"{dist_info}/METADATA", core_metadata(spec).encode("utf-8")),
        (f"{dist_info}/WHEEL", _wheel_text(tag).encode("utf-8")),
    ]
    path = out_dir / wheel_filename(spec, tag)
    write_wheel_archive(str(path), files, f"{dist_info}/RECORD")
    return path


def build_sdist(spec: DistSpec, out_dir: Path) -> Path:
    """Write the PEP 625 sdist of ``spec``; pip can build it offline."""
    if spec.legacy_sdist:
        return _build_legacy_sdist(spec, out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    top = f"{_escape(spec.name)}-{_version(spec)}"  # PEP 625: same stem as the file
    files = [
        ("PKG-INFO", _pkg_info(spec).encode("utf-8")),
        ("pyproject.toml", _pyproject(spec).encode("utf-8")),
        # The wheel's full METADATA: the backend's answer even when PKG-INFO is dynamic.
        (f"{BACKEND_DIR}/METADATA", core_metadata(spec).encode("utf-8")),
        *_module_files(spec),
    ]
    if spec.build_backend is None:
        files.append((f"{BACKEND_DIR}/{BACKEND_MODULE}.py", _backend_source().encode("utf-8")))
    if spec.wheel_build_requires:
        text = "".join(f"{req}\n" for req in spec.wheel_build_requires)
        files.append((f"{BACKEND_DIR}/WHEEL_REQUIRES", text.encode("utf-8")))
    path = out_dir / sdist_filename(spec)
    write_sdist_archive(str(path), sorted((f"{top}/{name}", data) for name, data in files))
    return path


def _setup_py(spec: DistSpec) -> str:
    kwargs = [
        f"name={spec.name!r}",
        f"version={spec.version!r}",
        f"packages=[{module_name(spec)!r}]",
        f"install_requires={list(_requirement_lines(spec))!r}",
    ]
    if spec.requires_python is not None:
        kwargs.append(f"python_requires={spec.requires_python!r}")
    body = "".join(f"    {kw},\n" for kw in kwargs)
    return f"from setuptools import setup\n\nsetup(\n{body})\n"


def _build_legacy_sdist(spec: DistSpec, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    top = f"{spec.name}-{spec.version}"
    # Metadata-Version 1.0 has no Requires-Dist: only setup.py knows them.
    pkg_info = f"Metadata-Version: 1.0\nName: {spec.name}\nVersion: {spec.version}\n\n"
    files = [
        ("PKG-INFO", pkg_info.encode("utf-8")),
        ("setup.py", _setup_py(spec).encode("utf-8")),
        *_module_files(spec),
    ]
    path = out_dir / sdist_filename(spec)
    write_sdist_archive(str(path), sorted((f"{top}/{name}", data) for name, data in files))
    return path


_SETUPTOOLS_INIT = '''"""A stand-in for setuptools: setup() records its arguments."""

SETUP_ARGS = {}


def setup(**kwargs):
    SETUP_ARGS.clear()
    SETUP_ARGS.update(kwargs)
'''

_LEGACY_BACKEND = """

def _setup_args():
    import runpy
    import sys

    import setuptools

    sys.path.insert(0, os.getcwd())
    sys.argv = ["setup.py"]
    runpy.run_path("setup.py", run_name="__main__")
    return dict(setuptools.SETUP_ARGS)


def _core_metadata(args):
    lines = [
        "Metadata-Version: 2.1",
        "Name: " + args["name"],
        "Version: " + args["version"],
    ]
    if args.get("python_requires"):
        lines.append("Requires-Python: " + args["python_requires"])
    lines += ["Requires-Dist: " + req for req in args.get("install_requires", [])]
    data = ("\\n".join(lines) + "\\n\\n").encode("utf-8")
    return data, re.sub(r"[-_.]+", "_", args["name"]).lower(), args["version"]


class _LegacyBackend:
    \"\"\"setuptools.build_meta:__legacy__: metadata and wheels from setup.py.\"\"\"

    def get_requires_for_build_wheel(self, config_settings=None):
        return []

    def get_requires_for_build_sdist(self, config_settings=None):
        return []

    def prepare_metadata_for_build_wheel(self, metadata_directory, config_settings=None):
        metadata, name, version = _core_metadata(_setup_args())
        dist_info = name + "-" + version + ".dist-info"
        os.makedirs(os.path.join(metadata_directory, dist_info), exist_ok=True)
        for filename, data in (("METADATA", metadata), ("WHEEL", WHEEL.encode("utf-8"))):
            with open(os.path.join(metadata_directory, dist_info, filename), "wb") as fh:
                fh.write(data)
        return dist_info

    def build_wheel(self, wheel_directory, config_settings=None, metadata_directory=None):
        args = _setup_args()
        metadata, name, version = _core_metadata(args)
        dist_info = name + "-" + version + ".dist-info"
        files = []
        for package in args.get("packages", []):
            for root, dirs, names in os.walk(package):
                dirs[:] = [d for d in dirs if d != "__pycache__"]
                for filename in names:
                    path = os.path.join(root, filename)
                    with open(path, "rb") as fh:
                        files.append((path.replace(os.sep, "/"), fh.read()))
        files.sort()
        files += [(dist_info + "/METADATA", metadata), (dist_info + "/WHEEL", WHEEL.encode())]
        filename = name + "-" + version + "-" + TAG + ".whl"
        write_wheel_archive(os.path.join(wheel_directory, filename), files, dist_info + "/RECORD")
        return filename


__legacy__ = _LegacyBackend()
"""


def _setuptools_build_meta() -> str:
    header = [
        '"""A stand-in for setuptools.build_meta: the legacy backend only."""',
        "",
        "import os",
        "import re",
        "",
        f"TAG = {BACKEND_TAG!r}",
        f"WHEEL = {_wheel_text(BACKEND_TAG)!r}",
        "",
    ]
    return (
        "\n".join(header)
        + "\n"
        + textwrap.dedent(inspect.getsource(write_wheel_archive))
        + _LEGACY_BACKEND
    )


def setuptools_stub_spec(version: str = "80.9.0") -> DistSpec:
    """A wheel-only ``setuptools`` whose legacy backend
    (``setuptools.build_meta:__legacy__``, what pip builds a project without
    pyproject.toml with) runs setup.py: enough for a ``legacy_sdist`` spec's
    metadata and wheel, offline and in an instant."""
    return DistSpec("setuptools", version, setuptools_stub=True, sdist=False)


def backend_wheel_spec(
    name: str = "tinybackend", version: str = "1.0", requires: Iterable[str] = ("tinyhelper",)
) -> DistSpec:
    """A wheel-only project whose module is the test PEP 517 backend and
    which imports each of ``requires`` at import time; an sdist with
    ``DistSpec(..., build_backend=name)`` builds with it."""
    return DistSpec(name, version, requires=tuple(requires), backend_module=True, sdist=False)


def build_all(specs: Iterable[DistSpec], out_dir: Path) -> list[Path]:
    """Build every wheel and sdist the specs ask for into ``out_dir``."""
    built: list[Path] = []
    seen: set[str] = set()
    for spec in specs:
        for filename in filenames(spec):
            if filename in seen:
                raise ValueError(f"two specs build {filename}")
            seen.add(filename)
        if spec.wheel:
            built.extend(build_wheel(spec, tag, out_dir) for tag in spec.wheel_tags)
        if spec.sdist:
            built.append(build_sdist(spec, out_dir))
    return built


def read_wheel_metadata(wheel_path: Path) -> bytes:
    """The ``*.dist-info/METADATA`` member of a wheel, byte for byte."""
    with zipfile.ZipFile(wheel_path) as archive:
        for name in archive.namelist():
            if re.fullmatch(r"[^/]+\.dist-info/METADATA", name):
                return archive.read(name)
    raise ValueError(f"{wheel_path.name} has no .dist-info/METADATA")


def write_metadata_sidecar(wheel_path: Path) -> Path:
    """Write ``<wheel>.metadata`` next to the wheel (PEP 658)."""
    sidecar = wheel_path.with_name(wheel_path.name + ".metadata")
    sidecar.write_bytes(read_wheel_metadata(wheel_path))
    return sidecar


def packse_specs(scenario: Mapping[str, Any]) -> list[DistSpec]:
    """Specs for every package version of a parsed packse scenario.

    packse keys map one to one onto DistSpec fields; ``yanked = true``
    becomes a yank without a reason.
    """
    specs = []
    for name, package in scenario.get("packages", {}).items():
        for version, release in package.get("versions", {}).items():
            yanked = release.get("yanked", False)
            specs.append(
                DistSpec(
                    name=name,
                    version=version,
                    requires=tuple(release.get("requires", ())),
                    extras={k: tuple(v) for k, v in release.get("extras", {}).items()},
                    requires_python=release.get("requires_python"),
                    wheel_tags=tuple(release.get("wheel_tags", ("py3-none-any",))),
                    wheel=release.get("wheel", True),
                    sdist=release.get("sdist", True),
                    yanked="" if yanked is True else (yanked or None),
                )
            )
    return specs


__all__ = [
    "BACKEND_MODULE",
    "BACKEND_TAG",
    "DistSpec",
    "backend_wheel_spec",
    "build_all",
    "build_sdist",
    "build_wheel",
    "core_metadata",
    "filenames",
    "module_name",
    "packse_specs",
    "read_wheel_metadata",
    "sdist_filename",
    "setuptools_stub_spec",
    "wheel_filename",
    "write_metadata_sidecar",
    "yanked_files",
]
