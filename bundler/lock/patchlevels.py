"""Dependencies whose markers, and files whose Requires-Python, tell
Python patch releases apart (pure).

A target given as ``--python-version 3.13`` stands for Python 3.13.0, as
uv takes it.  A marker on ``python_full_version`` (or
``implementation_version``) can answer otherwise on 3.13.5, where the
target most likely runs: a dependency left out at 3.13.0 is then missing
there, and the lock, and a gate that checks it for 3.13.0, cannot tell.
"""

from __future__ import annotations

from collections.abc import Mapping

from packaging.markers import InvalidMarker, Marker
from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from bundler.spec.resolution import Resolution

__all__ = ["PATCHES_LOOKED_AT", "patch_sensitive"]

# The patch releases looked at: a minor release has had at most 21 so far.
PATCHES_LOOKED_AT = 40
_VARIABLES = ("python_full_version", "implementation_version")


def patch_sensitive(resolution: Resolution) -> list[str]:
    """For a target that stands for a ``.0`` release, each resolved
    dependency whose marker answers otherwise at a later patch release of
    the same Python, said in a line."""
    target = resolution.target
    major, minor, patch = (int(x) for x in target.python_full_version.split(".")[:3])
    if patch != 0:
        return []
    found: list[str] = []
    for package in sorted(resolution.packages.values(), key=lambda p: p.name):
        for line in package.requires_dist:
            marker = _patch_marker(line)
            if marker is None:
                continue
            for extra in (None, *sorted(package.extras)):
                changes = _first_change(marker, target.environment, major, minor, extra)
                if changes is None:
                    continue
                needed = "needed" if changes[0] else "left out"
                later = "left out" if changes[0] else "needed"
                found.append(
                    f"{package.name} {package.version} asks for '{line}': on {target.name}"
                    f" (Python {major}.{minor}.0) it is {needed}, from {major}.{minor}.{changes[1]}"
                    f" on it is {later}; name the patch release the target runs"
                    f" (e.g. --python-version {major}.{minor}.{changes[1]}) to lock for it"
                )
                break
        refused = _first_refusal(package.chosen.requires_python, major, minor)
        if refused is not None:
            found.append(
                f"{package.chosen.filename} requires Python {package.chosen.requires_python}:"
                f" {target.name} (Python {major}.{minor}.0) installs it, but pip refuses it"
                f" from {major}.{minor}.{refused} on; name the patch release the target runs"
                f" (e.g. --python-version {major}.{minor}.{refused}) to lock for it"
            )
    return found


def _first_refusal(requires_python: str | None, major: int, minor: int) -> int | None:
    """The first patch release after .0 a Requires-Python admitting .0
    refuses, or None (also for one pip ignores, as invalid)."""
    if not requires_python:
        return None
    try:
        spec = SpecifierSet(requires_python)
    except InvalidSpecifier:
        return None
    if not spec.contains(f"{major}.{minor}.0", prereleases=True):
        return None
    for patch in range(1, PATCHES_LOOKED_AT + 1):
        if not spec.contains(f"{major}.{minor}.{patch}", prereleases=True):
            return patch
    return None


def _patch_marker(line: str) -> Marker | None:
    """The marker of a Requires-Dist line when it reads a patch level."""
    if not any(v in line for v in _VARIABLES):
        return None
    try:
        marker = Requirement(line).marker
    except (InvalidRequirement, InvalidMarker):
        return None
    if marker is None or not any(v in str(marker) for v in _VARIABLES):
        return None
    return marker


def _first_change(
    marker: Marker,
    environment: Mapping[str, str],
    major: int,
    minor: int,
    extra: str | None,
) -> tuple[bool, int] | None:
    """(the answer at .0, the first patch release that answers otherwise),
    or None when every patch release looked at answers alike."""
    env = dict(environment)
    env["extra"] = extra or ""
    first: bool | None = None
    for patch in range(PATCHES_LOOKED_AT + 1):
        version = f"{major}.{minor}.{patch}"
        env["python_full_version"] = env["implementation_version"] = version
        answer = marker.evaluate(env)
        if first is None:
            first = answer
        elif answer != first:
            return first, patch
    return None
