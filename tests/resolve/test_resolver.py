"""The resolver over an in-memory package universe (no sockets)."""

from __future__ import annotations

import threading
from collections.abc import Mapping

import pytest
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler.errors import ResolutionFailed
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.resolve.resolver import ResolveOptions, resolve
from bundler.spec.project import ProjectPage
from bundler.spec.selection import BinaryPolicy
from tests.resolve.universe import FakeSource, Release, make_target, pins, roots


def test_transitive_newest_versions() -> None:
    u = {
        "app": {"1.0": Release(("lib>=1",)), "2.0": Release(("lib>=2",))},
        "lib": {"1.0": Release(), "2.0": Release(), "2.1": Release()},
    }
    assert pins(u, "app") == {"app": "2.0", "lib": "2.1"}


def test_backtracks_to_satisfy_conflict() -> None:
    u = {
        "app": {"1.0": Release(("lib<2",)), "2.0": Release(("lib<2", "tool>=3"))},
        "tool": {"3.0": Release(("lib>=2",))},
        "lib": {"1.0": Release(), "2.0": Release()},
    }
    assert pins(u, "app") == {"app": "1.0", "lib": "1.0"}


def test_impossible_renders_chain() -> None:
    u = {
        "app": {"1.0": Release(("lib<2",))},
        "tool": {"3.1": Release(("lib>=2.1",))},
        "lib": {"1.0": Release(), "2.1": Release()},
    }
    with pytest.raises(ResolutionFailed) as info:
        pins(u, "app", "tool")
    text = str(info.value)
    assert "app==1.0 depends on lib<2" in text
    assert "tool==3.1 depends on lib>=2.1" in text
    assert info.value.exit_code == 1


def test_missing_package_is_named() -> None:
    with pytest.raises(ResolutionFailed) as info:
        pins({"app": {"1.0": Release(("ghost",))}}, "app")
    assert "ghost was not found" in str(info.value)


def test_requires_python_from_index_and_metadata() -> None:
    u = {
        "lib": {
            "1.0": Release(),
            "2.0": Release(requires_python=">=3.12"),
        }
    }
    assert pins(u, "lib", target=make_target("3.11.4")) == {"lib": "1.0"}
    assert pins(u, "lib", target=make_target("3.12.1")) == {"lib": "2.0"}


def test_requires_python_only_in_metadata_backtracks() -> None:
    class NoIndexRP(FakeSource):
        def get_project(self, name: NormalizedName) -> ProjectPage:
            page = super().get_project(name)
            return ProjectPage(
                name,
                tuple(IndexFile(**{**f.__dict__, "requires_python": None}) for f in page.files),
            )

    u = {"lib": {"1.0": Release(), "2.0": Release(requires_python=">=3.12")}}
    res = resolve(roots("lib"), [], NoIndexRP(u), make_target("3.11.4"))
    assert str(res.packages[canonicalize_name("lib")].version) == "1.0"


def test_yanked_skipped_unless_pinned() -> None:
    u = {"lib": {"1.0": Release(), "2.0": Release(yanked="broken")}}
    assert pins(u, "lib") == {"lib": "1.0"}
    assert pins(u, "lib==2.0") == {"lib": "2.0"}


def test_yanked_range_does_not_select_yanked() -> None:
    u = {"lib": {"1.0": Release(), "2.0": Release(yanked="")}}
    with pytest.raises(ResolutionFailed):
        pins(u, "lib>=2")


def test_prereleases_only_when_needed_or_allowed() -> None:
    u = {"lib": {"1.0": Release(), "2.0b1": Release()}}
    assert pins(u, "lib") == {"lib": "1.0"}
    assert pins(u, "lib", allow_prereleases=True) == {"lib": "2.0b1"}
    assert pins(u, "lib>=2.0b1") == {"lib": "2.0b1"}
    only_pre = {"lib": {"2.0b1": Release()}}
    assert pins(only_pre, "lib") == {"lib": "2.0b1"}


def test_extras_and_markers_for_target() -> None:
    u = {
        "app": {
            "1.0": Release(
                requires=('colorama ; sys_platform == "win32"', 'tomli ; python_version < "3.11"'),
                extras={"redis": ("redis>=4",)},
            )
        },
        "colorama": {"0.4": Release()},
        "tomli": {"2.0": Release()},
        "redis": {"5.0": Release()},
    }
    assert pins(u, "app") == {"app": "1.0"}
    assert pins(u, "app[redis]") == {"app": "1.0", "redis": "5.0"}
    assert pins(u, "app", target=make_target(sys_platform="win32")) == {
        "app": "1.0",
        "colorama": "0.4",
    }
    assert pins(u, "app", target=make_target("3.10.9")) == {"app": "1.0", "tomli": "2.0"}


def test_extra_not_provided_installs_base() -> None:
    u = {"app": {"1.0": Release()}}
    assert pins(u, "app[nope]") == {"app": "1.0"}


def test_constraints_limit_but_do_not_add() -> None:
    u = {"lib": {"1.0": Release(), "2.0": Release()}, "other": {"1.0": Release()}}
    assert pins(u, "lib", constraints=("lib<2", "other==1.0")) == {"lib": "1.0"}


def test_preferences_keep_existing_pin() -> None:
    u = {"lib": {"1.0": Release(), "2.0": Release()}}
    assert pins(u, "lib", preferences={canonicalize_name("lib"): Version("1.0")}) == {"lib": "1.0"}
    # A preference that no longer fits is dropped.
    assert pins(u, "lib>=2", preferences={canonicalize_name("lib"): Version("1.0")}) == {
        "lib": "2.0"
    }


def test_platform_wheels_and_sdist_fallback() -> None:
    u = {
        "native": {
            "1.0": Release(tags=("cp311-cp311-manylinux_2_17_x86_64",), sdist=True),
        }
    }
    linux = resolve(roots("native"), [], FakeSource(u), make_target())
    assert linux.packages[canonicalize_name("native")].chosen.kind is DistKind.WHEEL
    win = resolve(roots("native"), [], FakeSource(u), make_target(sys_platform="win32"))
    assert win.packages[canonicalize_name("native")].chosen.kind is DistKind.SDIST


def test_no_usable_distribution_names_target() -> None:
    u = {"native": {"1.0": Release(tags=("cp311-cp311-manylinux_2_17_x86_64",))}}
    with pytest.raises(ResolutionFailed) as info:
        pins(u, "native", target=make_target(sys_platform="win32"))
    text = str(info.value)
    assert "cp311-win32" in text
    assert "no compatible wheel tag" in text


def test_only_binary_policy_refuses_sdist() -> None:
    u = {"lib": {"1.0": Release(tags=(), sdist=True)}}
    assert pins(u, "lib") == {"lib": "1.0"}
    with pytest.raises(ResolutionFailed):
        pins(u, "lib", policy=BinaryPolicy(only_binary=frozenset({":all:"})))


def test_via_records_parents() -> None:
    u = {"app": {"1.0": Release(("lib",))}, "lib": {"1.0": Release()}}
    res = resolve(roots("app"), [], FakeSource(u), make_target())
    assert res.packages[canonicalize_name("lib")].via == ("app",)
    assert res.packages[canonicalize_name("app")].via == ("-r requirements.in",)


def test_unsatisfiable_with_requires_python_everywhere_ends_quickly() -> None:
    """Backtracking past the Requires-Python pseudo package must not hand the
    same Python candidate back (it made resolvelib loop until max_rounds)."""
    rp = ">=3.8"
    u = {
        "a": {"1.0": Release(("c",), requires_python=rp)},
        "b": {v: Release(("a==1.0",), requires_python=rp) for v in ("1.0", "2.0", "3.0")},
    }
    with pytest.raises(ResolutionFailed) as info:
        pins(u, "b", max_rounds=500)
    assert "c was not found" in str(info.value)
    assert "gave up" not in str(info.value)


def test_likely_metadata_is_fetched_ahead_in_background_threads() -> None:
    import threading

    class Recording(FakeSource):
        def __init__(self, universe: Mapping[str, Mapping[str, Release]]) -> None:
            super().__init__(universe)
            self.threads: list[str] = []

        def get_metadata(self, file: IndexFile) -> CoreMetadata:
            self.threads.append(threading.current_thread().name)
            return super().get_metadata(file)

    u = {
        "app": {"1.0": Release(("lib>=1", "other"))},
        "lib": {"1.0": Release(), "2.0": Release()},
        "other": {"1.0": Release()},
    }
    source = Recording(u)
    res = resolve(roots("app"), [], source, make_target())
    assert str(res.packages[canonicalize_name("lib")].version) == "2.0"
    assert any(name.startswith("bundler-warm") for name in source.threads)


def test_dependencies_are_fetched_ahead_of_the_resolver() -> None:
    universe = {
        "a": {"1.0": Release(("b",))},
        "b": {"1.0": Release(("c>=1",))},
        "c": {"1.0": Release(("d ; sys_platform == 'win32'",))},
        "d": {"1.0": Release()},
    }
    c_asked = threading.Event()
    waited: list[bool] = []

    class Watching(FakeSource):
        def get_metadata(self, file: IndexFile) -> CoreMetadata:
            if file.project == "c":
                c_asked.set()
            if file.project == "b" and threading.current_thread() is threading.main_thread():
                # The resolver reaches b's dependencies only now: c's metadata
                # was asked for as soon as b's was known, not one step later.
                waited.append(c_asked.wait(10))
            return super().get_metadata(file)

    source = Watching(universe)
    res = resolve(roots("a"), [], source, make_target(sys_platform="linux"), ResolveOptions())
    assert sorted(res.packages) == ["a", "b", "c"]
    assert waited == [True]
    # Speculation follows the target's markers: d is for Windows only.
    assert not any(name.startswith("d-") for name in source.metadata_calls)


def test_the_first_target_fetches_ahead_for_the_other_targets() -> None:
    linux, windows = "cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-win_amd64"
    universe = {
        "app": {"1.0": Release(("native",))},
        "native": {"1.0": Release(tags=(linux, windows)), "2.0": Release(tags=(linux, windows))},
    }

    class Waiting(FakeSource):
        """The resolver asks for native's metadata only once the speculative
        fetch got there (siblings are handled just before it)."""

        def __init__(self, universe: Mapping[str, Mapping[str, Release]]) -> None:
            super().__init__(universe)
            self.warmed = threading.Event()

        def get_metadata(self, file: IndexFile) -> CoreMetadata:
            if file.project == "native":
                if threading.current_thread().name.startswith("bundler-warm"):
                    self.warmed.set()
                else:
                    assert self.warmed.wait(10)
            return super().get_metadata(file)

    source = Waiting(universe)
    siblings = (make_target(sys_platform="win32"), make_target(python="3.12.1"))
    options = ResolveOptions(siblings=siblings)
    res = resolve(roots("app"), [], source, make_target(sys_platform="linux"), options)
    assert str(res.packages[canonicalize_name("native")].version) == "2.0"
    # The Windows wheel of the release this target pins, fetched ahead while
    # it resolved; the Python 3.12 target has no wheel of its own to fetch.
    assert sorted(source.prefetched) == [f"native-2.0-{windows}.whl"]
    # A sibling that can take a newer release than this target takes its own.
    newer = {
        "app": universe["app"],
        "native": {
            "1.0": Release(tags=(linux, windows)),
            "2.0": Release(tags=("py3-none-any",), requires_python=">=3.12"),
        },
    }
    source = Waiting(newer)
    options = ResolveOptions(siblings=(make_target(python="3.12.1"),))
    res = resolve(roots("app"), [], source, make_target(python="3.11.4"), options)
    assert str(res.packages[canonicalize_name("native")].version) == "1.0"
    assert source.prefetched == ["native-2.0-py3-none-any.whl"]
    # Without siblings, nothing is fetched for anyone else.
    alone = Waiting(universe)
    resolve(roots("app"), [], alone, make_target(sys_platform="linux"))
    assert alone.prefetched == []


def test_a_later_target_fetches_ahead_only_what_is_new_to_it() -> None:
    winlib_ahead = threading.Event()
    waited: list[bool] = []

    class Recording(FakeSource):
        def __init__(self, universe: Mapping[str, Mapping[str, Release]]) -> None:
            super().__init__(universe)
            self.ahead: set[str] = set()

        def get_metadata(self, file: IndexFile) -> CoreMetadata:
            if threading.current_thread().name.startswith("bundler-warm"):
                with self._lock:
                    self.ahead.add(str(file.project))
                if file.project == "winlib":
                    winlib_ahead.set()
            elif file.project == "winonly":
                # What is new to this target is still fetched ahead: winlib,
                # winonly's dependency, is asked for before the resolver gets there.
                waited.append(winlib_ahead.wait(10))
            return super().get_metadata(file)

    universe = {
        "app": {"1.0": Release(("lib", "winonly ; sys_platform == 'win32'"))},
        "lib": {"1.0": Release(("deep",))},
        "deep": {"1.0": Release()},
        "winonly": {"1.0": Release(("winlib",))},
        "winlib": {"1.0": Release()},
    }
    # The first target (Linux) asked for app, lib and deep already.
    source = Recording(universe)
    source.known = {"app", "lib", "deep"}
    options = ResolveOptions(warm_known=False)
    res = resolve(roots("app"), [], source, make_target(sys_platform="win32"), options)
    assert sorted(res.packages) == ["app", "deep", "lib", "winlib", "winonly"]
    assert waited == [True]
    assert source.ahead <= {"winonly", "winlib"}


# --- explanations ------------------------------------------------------------------


def _failure(
    universe: Mapping[str, Mapping[str, Release]], *reqs: str, constraints: tuple[str, ...] = ()
) -> list[str]:
    with pytest.raises(ResolutionFailed) as info:
        pins(universe, *reqs, constraints=constraints)
    return str(info.value).splitlines()


SOCKS = {
    "requests": {"2.32.3": Release(extras={"socks": ("PySocks>=1.5.6,!=1.5.7",)})},
    "pysocks": {
        "1.6.0": Release(tags=("py27-none-any", "py3-none-any"), sdist=True, yanked="bad build"),
        "1.7.0": Release(tags=("py27-none-any", "py3-none-any"), sdist=True),
        "1.7.1": Release(tags=("py27-none-any", "py3-none-any"), sdist=True),
    },
}


def test_a_release_with_a_usable_file_is_not_reported_skipped() -> None:
    lines = _failure(SOCKS, "requests[socks]==2.32.3", constraints=("pysocks==1.0",))
    assert lines[1:] == [
        "no version of pysocks satisfies every requirement:",
        "  - requests[socks]==2.32.3 depends on PySocks!=1.5.7,>=1.5.6",
        "  - pysocks versions usable on cp311-linux: 1.6.0 (yanked: bad build), 1.7.0, 1.7.1",
        "  - constraint: pysocks==1.0 (requirements.in:1)",
    ]


def test_a_project_asked_for_on_two_lines_names_each_line() -> None:
    u = {"lib": {"1.0": Release(), "2.0": Release()}, "other": {"1.0": Release()}}
    lines = _failure(u, "lib==1.0", "other", "lib==2.0")
    assert "  - the user requested lib==1.0 (requirements.in:1)" in lines
    assert "  - the user requested lib==2.0 (requirements.in:3)" in lines


def test_a_release_with_no_usable_file_gives_the_reason_of_each_kind() -> None:
    u = {
        "lib": {
            "1.0": Release(tags=("py27-none-any",), sdist=True, requires_python=">=4"),
            "1.1": Release(tags=("py27-none-any",), sdist=True, requires_python=">=4"),
            "2.0": Release(tags=("py27-none-any",)),
            "3.0": Release(yanked=""),
        }
    }
    assert _failure(u, "lib")[2:] == [
        "  - the user requested lib (requirements.in:1)",
        "  - lib versions usable on cp311-linux: 3.0 (yanked)",
        "  - lib 1.0, 1.1: skipped, sdist: requires Python >=4 (target has 3.11.4);"
        " wheel: no compatible wheel tag for cp311-linux",
        "  - lib 2.0: skipped, wheel: no compatible wheel tag for cp311-linux",
    ]
