"""An in-memory package universe the resolver's tests resolve over."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from packaging.requirements import Requirement
from packaging.tags import compatible_tags, cpython_tags
from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.resolve.resolver import ResolveOptions, RootRequirement, resolve
from bundler.spec.project import ProjectPage
from bundler.spec.target import Target

__all__ = ["FakeSource", "Release", "make_target", "pins", "roots"]


def make_target(
    python: str = "3.11.4", sys_platform: str = "linux", machine: str = "x86_64"
) -> Target:
    major, minor = (int(x) for x in python.split(".")[:2])
    plat = {"linux": f"manylinux_2_17_{machine}", "win32": "win_amd64"}[sys_platform]
    tags = (
        *cpython_tags((major, minor), platforms=[plat]),
        *compatible_tags((major, minor), platforms=[plat]),
    )
    env = {
        "implementation_name": "cpython",
        "implementation_version": python,
        "os_name": "nt" if sys_platform == "win32" else "posix",
        "platform_machine": machine,
        "platform_release": "",
        "platform_system": "Windows" if sys_platform == "win32" else "Linux",
        "platform_version": "",
        "python_full_version": python,
        "platform_python_implementation": "CPython",
        "python_version": f"{major}.{minor}",
        "sys_platform": sys_platform,
    }
    return Target(f"cp{major}{minor}-{sys_platform}", python, env, tuple(tags))


@dataclass
class Release:
    requires: tuple[str, ...] = ()
    requires_python: str | None = None
    tags: tuple[str, ...] = ("py3-none-any",)
    sdist: bool = False
    yanked: str | None = None
    extras: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class FakeSource:
    """An index in memory: {name: {version: Release}}."""

    def __init__(self, universe: Mapping[str, Mapping[str, Release]]) -> None:
        self.universe = universe
        self.metadata_calls: list[str] = []
        self.prefetched: list[str] = []
        self.known: set[str] = set()  # pages "already in" (has_project)
        self._lock = threading.Lock()
        self._pages: dict[NormalizedName, ProjectPage] = {}

    def get_project(self, name: NormalizedName) -> ProjectPage:
        # One page object per project, as PackageIndex memoizes them.
        with self._lock:
            page = self._pages.get(name)
            if page is None:
                page = self._pages[name] = self._page(name)
        return page

    def _page(self, name: NormalizedName) -> ProjectPage:
        files: list[IndexFile] = []
        for version, rel in self.universe.get(name, {}).items():
            stem = f"{name.replace('-', '_')}-{version}"
            names = [(f"{stem}-{t}.whl", DistKind.WHEEL) for t in rel.tags]
            if rel.sdist:
                names.append((f"{stem}.tar.gz", DistKind.SDIST))
            for fn, kind in names:
                files.append(
                    IndexFile(
                        filename=fn,
                        url=f"https://example.invalid/{fn}",
                        project=name,
                        version=Version(version),
                        kind=kind,
                        hashes={"sha256": "0" * 64},
                        requires_python=rel.requires_python,
                        yanked=rel.yanked,
                    )
                )
        return ProjectPage(name, tuple(files))

    def get_metadata(self, file: IndexFile) -> CoreMetadata:
        self.metadata_calls.append(file.filename)
        rel = self.universe[file.project][str(file.version)]
        requires = list(rel.requires)
        for extra, reqs in rel.extras.items():
            requires += [f'{r} ; extra == "{extra}"' for r in reqs]
        return CoreMetadata(
            name=file.project,
            version=file.version,
            requires_dist=tuple(requires),
            requires_python=rel.requires_python,
            provides_extra=tuple(rel.extras),
        )

    def prefetch(self, names: Iterable[NormalizedName]) -> None:
        pass

    def prefetch_metadata(self, files: Iterable[IndexFile]) -> None:
        with self._lock:
            self.prefetched.extend(f.filename for f in files)

    def has_project(self, name: NormalizedName) -> bool:
        return name in self.known


def roots(*reqs: str) -> list[RootRequirement]:
    return [
        RootRequirement(Requirement(r), f"requirements.in:{i + 1}", "-r requirements.in")
        for i, r in enumerate(reqs)
    ]


def pins(
    universe: Mapping[str, Mapping[str, Release]],
    *reqs: str,
    target: Target | None = None,
    constraints: tuple[str, ...] = (),
    **opts: object,
) -> dict[str, str]:
    res = resolve(
        roots(*reqs),
        roots(*constraints),
        FakeSource(universe),
        target or make_target(),
        ResolveOptions(**opts),  # type: ignore[arg-type]
    )
    return {n: str(p.version) for n, p in res.packages.items()}
