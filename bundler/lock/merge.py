"""Turn per-target resolutions into one Lock (pure)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.errors import BundlerError
from bundler.models import IndexFile, IndexSettings, Lock, LockedFile, LockedPackage
from bundler.redact import redact_url
from bundler.spec.resolution import Resolution
from bundler.spec.target import Target

__all__ = [
    "LockInputs",
    "TargetsIndistinct",
    "build_lock",
    "locked_file",
    "marker_for",
]

# Variables that can tell targets apart, most readable first.
_MARKER_VARS = (
    "sys_platform",
    "platform_machine",
    "python_version",
    "implementation_name",
    "python_full_version",
)


class TargetsIndistinct(BundlerError):
    """Targets that no environment marker tells apart need different pins:
    one lock cannot say which target installs which (exit 1)."""

    def __init__(self, targets: Sequence[str], differences: Sequence[str]) -> None:
        shown = ", ".join(targets)
        super().__init__(
            f"cannot lock targets {shown} together: no environment marker tells them"
            " apart (they differ only in the wheel tags they install), and they need"
            " different pins:\n" + "\n".join(f"  {d}" for d in differences),
            hint="lock them into separate files (one bundle lock per target), or"
            " constrain those packages to releases every one of them can install",
        )
        self.targets = tuple(targets)
        self.differences = tuple(differences)


@dataclass(frozen=True)
class LockInputs:
    requirements: tuple[str, ...] = ()
    constraints: tuple[str, ...] = ()
    indexes: IndexSettings = field(default_factory=IndexSettings)
    allow_prereleases: bool = False


def build_lock(
    resolutions: Sequence[Resolution],
    inputs: LockInputs,
    build: Sequence[Resolution] = (),
) -> Lock:
    """Merge one resolution per target into a Lock.

    A package may resolve to different versions on different targets; each
    (name, version) becomes one entry whose marker selects exactly the
    targets it serves.  Every file a serving target could use is listed
    with its hash; ``LockedFile.targets`` names the targets that would
    install that file.  ``build`` holds the resolutions of sdists' build
    requirements; what only they need is marked build-only.
    """
    all_targets = [r.target for r in resolutions]
    groups, runtime_keys = _grouped(resolutions, build)
    _check_told_apart({k: g for k, g in groups.items() if k in runtime_keys}, all_targets)
    packages = [
        _locked_package(key, group, all_targets, build_only=key not in runtime_keys)
        for key, group in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1]))
    ]
    return Lock(
        packages=tuple(packages),
        targets=tuple(t.name for t in all_targets),
        requirements=inputs.requirements,
        constraints=inputs.constraints,
        indexes=inputs.indexes,
        allow_prereleases=inputs.allow_prereleases,
    )


_Key = tuple[NormalizedName, Version, str | None]  # name, version, direct URL


def _grouped(
    resolutions: Sequence[Resolution], build: Sequence[Resolution]
) -> tuple[dict[_Key, _Group], set[_Key]]:
    """Every resolved (name, version, direct URL) with the targets it
    serves, its files and the file each target chose; and the keys some
    runtime resolution holds."""
    groups: dict[_Key, _Group] = {}
    runtime_keys: set[_Key] = set()
    tagged = [(False, r) for r in resolutions] + [(True, r) for r in build]
    for is_build, res in tagged:
        for pkg in res.packages.values():
            direct = redact_url(pkg.chosen.url) if pkg.direct else None
            key = (pkg.name, pkg.version, direct)
            if not is_build:
                runtime_keys.add(key)
            group = groups.setdefault(key, _Group())
            if res.target not in group.targets:
                group.targets.append(res.target)
            group.via.update(pkg.via)
            for f in pkg.files:
                group.files.setdefault(f.filename, f)
            if res.target.name not in group.chosen[pkg.chosen.filename]:
                group.chosen[pkg.chosen.filename].append(res.target.name)
    return groups, runtime_keys


def _locked_package(
    key: _Key, group: _Group, all_targets: Sequence[Target], *, build_only: bool
) -> LockedPackage:
    """One pin: a marker selecting the targets it serves, its hashed files."""
    name, version, direct = key
    group.targets.sort(key=all_targets.index)
    marker = None
    selected = group.targets
    if build_only:
        # A build requirement is only fetched, never installed by the lock:
        # the targets its marker cannot tell apart from those it serves
        # may have it too (a runtime pin that differs there is refused).
        environments = {_marker_environment(t) for t in selected}
        selected = [t for t in all_targets if _marker_environment(t) in environments]
    if len(selected) != len(all_targets):
        marker = marker_for(selected, all_targets)
    files = tuple(
        locked_file(f, tuple(sorted(group.chosen.get(f.filename, ()))))
        for _, f in sorted(group.files.items())
        if f.sha256
    )
    return LockedPackage(
        name=name,
        version=version,
        files=files,
        marker=marker,
        via=tuple(sorted(group.via)),
        targets=tuple(t.name for t in group.targets),
        build_only=build_only,
        direct_url=direct,
    )


def _check_told_apart(groups: Mapping[_Key, _Group], all_targets: Sequence[Target]) -> None:
    """Raise ``TargetsIndistinct`` when a pin serves some of the targets
    that share one marker environment but not all of them: its marker
    could only select all of them or none (two manylinux levels, or
    manylinux and musllinux, on one Python and machine)."""
    shared: dict[tuple[str, ...], list[Target]] = defaultdict(list)
    for target in all_targets:
        shared[_marker_environment(target)].append(target)
    for alike in shared.values():
        if len(alike) < 2:
            continue
        names = [t.name for t in alike]
        pins: dict[NormalizedName, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
        for (name, version, direct), group in groups.items():
            served = [t.name for t in alike if t in group.targets]
            if served and len(served) < len(alike):
                pin = f"{version}" if direct is None else f"{version} from {direct}"
                for served_name in served:
                    pins[name][served_name].append(pin)
        differences = [
            f"{name}: "
            + ", ".join(
                f"{' and '.join(by_target[t]) if t in by_target else 'nothing'} on {t}"
                for t in names
            )
            for name, by_target in sorted(pins.items())
        ]
        if differences:
            raise TargetsIndistinct(names, differences)


def _marker_environment(target: Target) -> tuple[str, ...]:
    return tuple(target.environment.get(v, "") for v in _MARKER_VARS)


class _Group:
    def __init__(self) -> None:
        self.targets: list[Target] = []
        self.via: set[str] = set()
        self.files: dict[str, IndexFile] = {}
        self.chosen: dict[str, list[str]] = defaultdict(list)


def locked_file(f: IndexFile, targets: tuple[str, ...]) -> LockedFile:
    """The lock's view of an index file (URL without credentials)."""
    return LockedFile(
        filename=f.filename,
        sha256=f.sha256 or "",
        kind=f.kind,
        url=redact_url(f.url),
        size=f.size,
        index=f.index,
        requires_python=f.requires_python,
        yanked=f.yanked,
        upload_time=f.upload_time,
        targets=targets,
    )


def marker_for(selected: Iterable[Target], all_targets: Sequence[Target]) -> str:
    """A PEP 508 marker true for the ``selected`` targets and false for the
    other ones in ``all_targets``, as short as a simple search finds."""
    chosen = {t.name for t in selected}
    inside = [t.environment for t in all_targets if t.name in chosen]
    outside = [t.environment for t in all_targets if t.name not in chosen]
    return (
        _one_variable_marker(inside, outside)
        or _two_variable_marker(inside, outside)
        or _full_marker(inside, all_targets)
    )


def _one_variable_marker(
    inside: Sequence[Mapping[str, str]], outside: Sequence[Mapping[str, str]]
) -> str | None:
    """One variable that tells them apart: sys_platform == "win32"."""
    for var in _MARKER_VARS:
        values = sorted({e.get(var, "") for e in inside})
        if not values or {e.get(var, "") for e in outside} & set(values):
            continue
        return " or ".join(f'{var} == "{v}"' for v in values)
    return None


def _two_variable_marker(
    inside: Sequence[Mapping[str, str]], outside: Sequence[Mapping[str, str]]
) -> str | None:
    """Two variables: a value of the first that only selected targets have
    needs no second; the rest are pairs."""
    for first in _MARKER_VARS:
        for second in _MARKER_VARS:
            if first == second:
                continue
            pairs_in = {(e.get(first, ""), e.get(second, "")) for e in inside}
            pairs_out = {(e.get(first, ""), e.get(second, "")) for e in outside}
            if pairs_in & pairs_out:
                continue
            clauses: list[str] = []
            out_firsts = {a for a, _ in pairs_out}
            for a in sorted({a for a, _ in pairs_in}):
                if a not in out_firsts:
                    clauses.append(f'{first} == "{a}"')
                else:
                    clauses += [
                        f'({first} == "{a}" and {second} == "{b}")'
                        for x, b in sorted(pairs_in)
                        if x == a
                    ]
            if len(clauses) == 1:
                return clauses[0].strip("()")
            return " or ".join(clauses)
    return None


def _full_marker(inside: Sequence[Mapping[str, str]], all_targets: Sequence[Target]) -> str:
    """Each selected target by every variable that tells targets apart."""
    variables = _distinguishing_vars(all_targets)
    clauses: list[str] = []
    for env in inside:
        clause = " and ".join(f'{var} == "{env[var]}"' for var in variables)
        if clause not in clauses:
            clauses.append(clause)
    if len(clauses) == 1:
        return clauses[0]
    return " or ".join(f"({c})" if " and " in c else c for c in clauses)


def _distinguishing_vars(targets: Sequence[Target]) -> list[str]:
    """The fewest variables (in readability order) that tell every pair of
    targets apart."""
    envs: list[Mapping[str, str]] = [t.environment for t in targets]
    chosen: list[str] = []
    for var in _MARKER_VARS:
        if len({tuple(e.get(v, "") for v in chosen) for e in envs}) == len(envs):
            break
        if len({e.get(var, "") for e in envs}) > 1:
            chosen.append(var)
    return chosen
