"""Targets: the environments a bundle must install on.

A ``Target`` carries everything that differs per environment (marker
environment, ordered wheel tags, Python version), so core code never reads
the host.  ``host_target()`` is the only place that looks at the running
interpreter.
"""

from __future__ import annotations

import functools
import platform
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property

from packaging.markers import Marker, default_environment
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import Tag, compatible_tags, cpython_tags, mac_platforms, sys_tags
from packaging.version import InvalidVersion, Version

from bundler.errors import UsageError

__all__ = [
    "MACOS_ALIAS_VERSION",
    "PLATFORM_ALIASES",
    "PLATFORM_FORMS",
    "LazyTags",
    "Target",
    "host_target",
    "make_target",
    "parse_python_version",
    "target_from_name",
]


class LazyTags(Sequence[Tag]):
    """A target's wheel tags, listed when first asked for: up to a thousand
    per target, which a command that only names its targets (rendering a
    lock's environments, say) never needs."""

    __slots__ = ("_items", "_make")

    def __init__(self, make: Callable[[], Sequence[Tag]]) -> None:
        self._make = make
        self._items: tuple[Tag, ...] | None = None

    def _all(self) -> tuple[Tag, ...]:
        items = self._items
        if items is None:  # two threads may both list them: the same tags
            items = self._items = tuple(self._make())
        return items

    def __len__(self) -> int:
        return len(self._all())

    def __iter__(self) -> Iterator[Tag]:
        return iter(self._all())

    def __getitem__(self, index: int | slice) -> Tag | Sequence[Tag]:  # type: ignore[override]
        return self._all()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, LazyTags):
            return self._all() == other._all()
        if isinstance(other, tuple):
            return self._all() == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"LazyTags({len(self)} tags)" if self._items is not None else "LazyTags(…)"


@dataclass(frozen=True)
class Target:
    """One environment: a Python version/implementation plus a platform."""

    name: str
    python_full_version: str
    # PEP 508 marker environment, complete (every variable set).
    environment: Mapping[str, str] = field(hash=False, compare=False)
    # Compatible wheel tags, most preferred first (packaging.tags order).
    tags: Sequence[Tag] = field(hash=False, compare=False, repr=False)
    # Platform tags as given by the user (for pip --platform), e.g.
    # ("manylinux_2_28_x86_64",); empty for the host.
    platforms: tuple[str, ...] = ()
    implementation: str = "cp"
    is_host: bool = False

    @cached_property
    def tag_priority(self) -> Mapping[Tag, int]:
        """Tag -> rank (0 is best)."""
        ranks: dict[Tag, int] = {}
        for i, tag in enumerate(self.tags):
            ranks.setdefault(tag, i)
        return ranks

    @property
    def python_version(self) -> Version:
        return Version(self.python_full_version)

    @property
    def python_short(self) -> str:
        v = self.python_version
        return f"{v.major}.{v.minor}"

    def wheel_rank(self, tags: frozenset[Tag]) -> int | None:
        """Best rank of any of a wheel's tags for this target, or None
        when the wheel cannot be installed here."""
        best: int | None = None
        priority = self.tag_priority
        for tag in tags:
            rank = priority.get(tag)
            if rank is not None and (best is None or rank < best):
                best = rank
        return best

    def explain_no_wheel(self, wheels: Iterable[frozenset[Tag]]) -> str:
        """Why none of a release's wheels (their tag sets) installs here, in
        a few words: what they are built for and, when only this target's
        OS release is too old for them, the release they need."""
        wheels = list(wheels)
        if not wheels:
            return "the release has no wheels"
        pythons = {(tag.interpreter, tag.abi) for tag in self.tags}
        fitting = (tag for tags in wheels for tag in tags if (tag.interpreter, tag.abi) in pythons)
        plats = sorted({tag.platform for tag in fitting})
        if not plats:
            others = sorted({f"{tag.interpreter}-{tag.abi}" for tags in wheels for tag in tags})
            return f"wheels exist for other Pythons only: {', '.join(others)}"
        need = _release_needed(self.platforms[0] if self.platforms else "", plats)
        return f"wheels exist for {', '.join(plats)}" + (f": need {need}" if need else "")

    def evaluate_marker(self, marker: Marker | None, extra: str | None = None) -> bool:
        """Evaluate a PEP 508 marker in this target's environment."""
        if marker is None:
            return True
        env: dict[str, str] = dict(self.environment)
        env["extra"] = extra or ""
        return marker.evaluate(env)

    def python_matches(self, requires_python: str | None) -> bool:
        """Whether Requires-Python admits this target's Python.

        An unparsable Requires-Python is ignored, as pip does.
        """
        if not requires_python:
            return True
        return _python_matches(requires_python, self.python_full_version)


@functools.lru_cache(maxsize=1 << 14)
def _python_matches(requires_python: str, python_full_version: str) -> bool:
    """Memoized: every file of a page repeats one of a few Requires-Python
    values, asked again for every target (a 16-target lock asked thousands
    of times, parsing the specifier each time)."""
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return True
    return spec.contains(python_full_version, prereleases=True)


@functools.cache
def host_target() -> Target:
    """The running interpreter as a Target (the default target; computed
    once: the interpreter does not change while it runs)."""
    env: dict[str, str] = {k: str(v) for k, v in default_environment().items()}
    impl = sys.implementation.name
    short = {"cpython": "cp", "pypy": "pp"}.get(impl, impl)
    tags = tuple(sys_tags())
    # The most specific platform tag names the host (e.g. manylinux_2_36_x86_64).
    plats = [t.platform for t in tags if t.platform != "any"]
    # packaging ranks linux_<arch> (local builds) first; name by the
    # portable tag when there is one.
    plat = next((p for p in plats if not p.startswith("linux_")), None) or (
        plats[0] if plats else platform.machine().lower()
    )
    name = _target_name(
        f"{short}{sys.version_info.major}{sys.version_info.minor}", plat, env["python_full_version"]
    )
    return Target(
        name=name,
        python_full_version=env["python_full_version"],
        environment=env,
        tags=tags,
        platforms=(plat,),
        implementation=short,
        is_host=True,
    )


# --- foreign targets ------------------------------------------------------------

# Friendly platform names and the wheel platform tag each stands for.  macOS
# means 14.0: the oldest release Apple still updates, and the floor numpy and
# scipy build their wheels for (macosx_14_0_*); an 11.0 target finds no wheel
# of such releases and would have to build them.
MACOS_ALIAS_VERSION = "14_0"
PLATFORM_ALIASES: Mapping[str, str] = {
    "linux": "manylinux_2_28_x86_64",
    "linux-x86_64": "manylinux_2_28_x86_64",
    "linux-aarch64": "manylinux_2_28_aarch64",
    "linux-arm64": "manylinux_2_28_aarch64",
    "musllinux": "musllinux_1_2_x86_64",
    "macos": f"macosx_{MACOS_ALIAS_VERSION}_arm64",
    "macos-arm64": f"macosx_{MACOS_ALIAS_VERSION}_arm64",
    "macos-x86_64": f"macosx_{MACOS_ALIAS_VERSION}_x86_64",
    "windows": "win_amd64",
    "windows-amd64": "win_amd64",
    "windows-arm64": "win_arm64",
    "windows-x86": "win32",
}

# Legacy manylinux names (PEP 513/571/599) and their PEP 600 equivalents.
_LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
_MANYLINUX = re.compile(r"^manylinux_(\d+)_(\d+)_(\w+)$")
_LEGACY = re.compile(r"^(manylinux1|manylinux2010|manylinux2014)_(\w+)$")
_MUSL = re.compile(r"^musllinux_(\d+)_(\d+)_(\w+)$")
_MACOS = re.compile(r"^macosx_(\d+)_(\d+)_(\w+)$")
_WINDOWS = {"win_amd64": "AMD64", "win_arm64": "ARM64", "win32": "x86"}
_LINUX_ARCHES = {"x86_64", "aarch64", "i686", "armv7l", "ppc64le", "s390x", "riscv64"}
_MAC_ARCHES = {"x86_64", "arm64", "universal2"}

PLATFORM_FORMS = (
    "manylinux_2_28_x86_64, manylinux2014_aarch64, musllinux_1_2_x86_64,"
    " macosx_11_0_arm64, win_amd64, win_arm64, win32, linux_x86_64, or an alias: "
    + ", ".join(sorted(PLATFORM_ALIASES))
)


def _linux_ladder(kind: str, major: int, minor: int, arch: str) -> list[str]:
    """PEP 600/656: every glibc/musl level from the target's down to the
    oldest, newest first, with the legacy manylinux aliases."""
    out: list[str] = []
    floor = 5 if kind == "manylinux" else 1
    for y in range(minor, floor - 1, -1):
        out.append(f"{kind}_{major}_{y}_{arch}")
        if kind == "manylinux":
            for legacy, level in _LEGACY_MANYLINUX.items():
                if level == (major, y) and not (
                    legacy == "manylinux1" and arch not in ("x86_64", "i686")
                ):
                    out.append(f"{legacy}_{arch}")
    out.append(f"linux_{arch}")
    return out


def _platform_info(plat: str) -> tuple[list[str], dict[str, str]]:
    """Platform tags (best first) and marker variables for a platform tag."""
    plat = PLATFORM_ALIASES.get(plat.lower(), plat)
    if m := _LEGACY.match(plat):
        major, minor = _LEGACY_MANYLINUX[m[1]]
        plat = f"manylinux_{major}_{minor}_{m[2]}"
    if (m := _MANYLINUX.match(plat)) and m[3] in _LINUX_ARCHES:
        return _linux_ladder("manylinux", int(m[1]), int(m[2]), m[3]), _linux_env(m[3])
    if (m := _MUSL.match(plat)) and m[3] in _LINUX_ARCHES:
        return _linux_ladder("musllinux", int(m[1]), int(m[2]), m[3]), _linux_env(m[3])
    if plat.startswith("linux_") and plat[6:] in _LINUX_ARCHES:
        return [plat], _linux_env(plat[6:])
    if (m := _MACOS.match(plat)) and m[3] in _MAC_ARCHES:
        arch = "arm64" if m[3] == "universal2" else m[3]
        plats = list(mac_platforms((int(m[1]), int(m[2])), arch))
        env = {
            "sys_platform": "darwin",
            "platform_system": "Darwin",
            "os_name": "posix",
            "platform_machine": arch,
        }
        return plats, env
    if plat in _WINDOWS:
        env = {
            "sys_platform": "win32",
            "platform_system": "Windows",
            "os_name": "nt",
            "platform_machine": _WINDOWS[plat],
        }
        return [plat], env
    raise UsageError(f"unknown platform {plat!r}", hint=f"valid forms: {PLATFORM_FORMS}")


def _os_release(plat: str) -> tuple[str, tuple[int, int], str] | None:
    """(OS, release, arch) of a macOS, manylinux or musllinux platform tag."""
    if m := _LEGACY.match(plat):
        return "glibc", _LEGACY_MANYLINUX[m[1]], m[2]
    for pattern, kind in ((_MACOS, "macOS"), (_MANYLINUX, "glibc"), (_MUSL, "musl")):
        if m := pattern.match(plat):
            return kind, (int(m[1]), int(m[2])), m[3]
    return None


def _release_needed(target_platform: str, plats: Iterable[str]) -> str | None:
    """'macOS >= 14.0' when wheels exist for this target's OS and arch, but
    all for a newer release than the target's; else None."""
    mine = _os_release(target_platform)
    if mine is None:
        return None
    kind, release, arch = mine
    arches = {arch, "universal2"} if kind == "macOS" else {arch}
    releases = [
        found[1]
        for found in map(_os_release, plats)
        if found is not None and found[0] == kind and found[2] in arches
    ]
    if not releases or min(releases) <= release:
        return None
    major, minor = min(releases)
    return f"{kind} >= {major}.{minor}"


def _linux_env(arch: str) -> dict[str, str]:
    return {
        "sys_platform": "linux",
        "platform_system": "Linux",
        "os_name": "posix",
        "platform_machine": arch,
    }


def parse_python_version(text: str) -> str:
    """'3.11' -> '3.11.0', '3.11.4' kept; anything else is a usage error."""
    try:
        v = Version(text)
    except InvalidVersion:
        v = None
    if v is None or v.major != 3 or len(v.release) not in (2, 3) or v.pre or v.dev or v.local:
        raise UsageError(f"invalid Python version {text!r}", hint="use a form like 3.11 or 3.12.4")
    release = (*v.release, 0) if len(v.release) == 2 else v.release
    return ".".join(str(x) for x in release)


def make_target(python_version: str, platform_tag: str) -> Target:
    """A CPython target for a Python version and a wheel platform tag (or
    alias), never looking at the host."""
    full = parse_python_version(python_version)
    plats, plat_env = _platform_info(platform_tag)
    major, minor = (int(x) for x in full.split(".")[:2])
    abi = f"cp{major}{minor}"

    def tags() -> tuple[Tag, ...]:
        return (
            *cpython_tags((major, minor), abis=[abi], platforms=plats),
            *compatible_tags((major, minor), interpreter=abi, platforms=plats),
        )

    env: dict[str, str] = {
        "implementation_name": "cpython",
        "implementation_version": full,
        "platform_python_implementation": "CPython",
        "platform_release": "",
        "platform_version": "",
        "python_full_version": full,
        "python_version": f"{major}.{minor}",
        **plat_env,
    }
    return Target(
        name=_target_name(abi, plats[0], full),
        python_full_version=full,
        environment=env,
        tags=LazyTags(tags),
        platforms=(plats[0],),
    )


def _target_name(abi: str, platform_tag: str, full_version: str) -> str:
    """``cp311-win_amd64``; a patch level other than 0 is part of the name
    (``cp311-win_amd64@3.11.7``), since Requires-Python may tell them apart."""
    parts = full_version.split(".")
    if len(parts) > 2 and parts[2] not in ("", "0"):
        return f"{abi}-{platform_tag}@{full_version}"
    return f"{abi}-{platform_tag}"


@functools.lru_cache(maxsize=256)
def target_from_name(name: str) -> Target:
    """Rebuild a target from its name (``cp311-manylinux_2_28_x86_64``);
    the host's own name gives the host target."""
    host = host_target()
    if name == host.name:
        return host
    m = re.match(r"^cp(3)(\d+)-([^@]+)(?:@(3\.\d+\.\d+))?$", name)
    if m is None or (m[4] is not None and not m[4].startswith(f"3.{m[2]}.")):
        raise UsageError(
            f"unknown target {name!r}", hint="targets look like cp311-manylinux_2_28_x86_64"
        )
    return make_target(m[4] or f"{m[1]}.{m[2]}", m[3])
