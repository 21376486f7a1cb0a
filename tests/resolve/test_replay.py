"""One target's resolution replayed for another that sees the index alike."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.models import CoreMetadata, IndexFile
from bundler.resolve.replay import Trace, replay, resolve_traced
from bundler.resolve.resolver import ResolveOptions, resolve
from bundler.spec.resolution import Resolution
from bundler.spec.target import Target
from tests.resolve.universe import FakeSource, Release, make_target, roots

NATIVE = ("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux_2_17_aarch64")

PORTABLE = {
    "app": {
        "1.0": Release(requires=("native>=1", "pure[fast]", 'winonly ; sys_platform == "win32"'))
    },
    "native": {"1.0": Release(tags=NATIVE), "2.0": Release(tags=NATIVE, sdist=True)},
    "pure": {"1.0": Release(extras={"fast": ("speedup",)}), "2.0": Release(yanked="broken")},
    "speedup": {"1.0": Release()},
    "winonly": {"1.0": Release()},
}


def _traced(
    universe: Mapping[str, Mapping[str, Release]], target: Target
) -> tuple[FakeSource, Trace]:
    source = FakeSource(universe)
    return source, resolve_traced(roots("app"), [], source, target)[1]


def _pins(resolution: Resolution) -> dict[str, tuple[str, str, tuple[str, ...], tuple[str, ...]]]:
    return {
        name: (
            str(p.version),
            p.chosen.filename,
            tuple(f.filename for f in p.files),
            p.via,
        )
        for name, p in resolution.packages.items()
    }


def test_a_target_that_sees_the_index_alike_gets_the_same_resolution_replayed() -> None:
    x86, arm = make_target(), make_target(machine="aarch64")
    source, trace = _traced(PORTABLE, x86)
    replayed = replay(trace, roots("app"), [], source, arm)
    assert replayed is not None and replayed.target is arm
    resolved = resolve(roots("app"), [], FakeSource(PORTABLE), arm)
    assert _pins(replayed) == _pins(resolved)
    # Its own files: the aarch64 wheel of native, not the x86_64 one.
    assert _pins(replayed)["native"][1] == "native-2.0-cp311-cp311-manylinux_2_17_aarch64.whl"
    assert replayed.packages[NormalizedName("pure")].extras == frozenset({"fast"})
    assert (
        replayed.packages[NormalizedName("native")].requires_dist
        == resolved.packages[NormalizedName("native")].requires_dist
    )


def test_a_target_that_may_see_the_index_differently_is_resolved() -> None:
    x86 = make_target()
    source, trace = _traced(PORTABLE, x86)
    # Another marker result (winonly), another Python, other options.
    assert replay(trace, roots("app"), [], source, make_target(sys_platform="win32")) is None
    assert replay(trace, roots("app"), [], source, make_target(python="3.11.5")) is None
    prefer = ResolveOptions(preferences={canonicalize_name("native"): Version("1.0")})
    assert replay(trace, roots("app"), [], source, make_target(machine="aarch64"), prefer) is None
    # Other roots; pages of its own (another source).
    arm = make_target(machine="aarch64")
    assert replay(trace, roots("speedup"), [], source, arm) is None
    assert replay(trace, roots("app"), [], FakeSource(PORTABLE), arm) is None
    assert replay(trace, roots("app"), [], source, arm) is not None
    # A root's own marker.
    marked = roots("app", 'winonly ; platform_machine == "x86_64"')
    marked_trace = resolve_traced(marked, [], source, x86)[1]
    assert replay(marked_trace, marked, [], source, make_target(machine="aarch64")) is None


def test_a_marker_only_the_other_target_meets_is_not_replayed() -> None:
    # Same files alike for both, but one dependency is for aarch64 only.
    app = Release(requires=("native", 'speedup ; platform_machine == "aarch64"'))
    universe = {**PORTABLE, "app": {"1.0": app}}
    arm = make_target(machine="aarch64")
    source, trace = _traced(universe, make_target())
    assert replay(trace, roots("app"), [], source, arm) is None
    assert NormalizedName("speedup") in resolve(roots("app"), [], source, arm).packages


def test_a_newer_release_only_the_other_target_can_use_is_not_replayed() -> None:
    # native 3.0 has an aarch64 wheel only: x86_64 passes it over, aarch64 takes it.
    universe = {**PORTABLE, "native": {**PORTABLE["native"], "3.0": Release(tags=NATIVE[1:])}}
    arm = make_target(machine="aarch64")
    source, trace = _traced(universe, make_target())
    assert str(trace.resolution.packages[NormalizedName("native")].version) == "2.0"
    assert replay(trace, roots("app"), [], source, arm) is None
    assert (
        str(resolve(roots("app"), [], source, arm).packages[NormalizedName("native")].version)
        == "3.0"
    )


def test_a_release_without_a_file_for_the_target_is_not_replayed() -> None:
    # native 2.0 has no aarch64 wheel: that target takes 1.0.
    universe = {
        **PORTABLE,
        "native": {"1.0": Release(tags=NATIVE), "2.0": Release(tags=NATIVE[:1])},
    }
    arm = make_target(machine="aarch64")
    source, trace = _traced(universe, make_target())
    assert replay(trace, roots("app"), [], source, arm) is None
    assert (
        str(resolve(roots("app"), [], source, arm).packages[NormalizedName("native")].version)
        == "1.0"
    )


def test_a_wheel_with_other_metadata_for_the_target_is_not_replayed() -> None:
    class PerWheel(FakeSource):
        def get_metadata(self, file: IndexFile) -> CoreMetadata:
            meta = super().get_metadata(file)
            if "aarch64" in file.filename:
                return dataclasses.replace(meta, requires_dist=(*meta.requires_dist, "speedup"))
            return meta

    arm = make_target(machine="aarch64")
    source = PerWheel(PORTABLE)
    trace = resolve_traced(roots("app"), [], source, make_target())[1]
    assert replay(trace, roots("app"), [], source, arm) is None
    assert (
        "native" in resolve(roots("app"), [], source, arm).packages[NormalizedName("speedup")].via
    )


def test_a_release_read_from_an_sdist_is_not_replayed() -> None:
    # Prepared metadata may differ per target: never replayed.
    universe = {**PORTABLE, "native": {"1.0": Release(tags=(), sdist=True)}}
    source, trace = _traced(universe, make_target())
    assert replay(trace, roots("app"), [], source, make_target(machine="aarch64")) is None
