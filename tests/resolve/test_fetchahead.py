"""What the resolver's fetch-ahead unpacks of a page."""

from __future__ import annotations

import functools

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.models import IndexFile
from bundler.resolve.candidates import spec_requirement
from bundler.resolve.fetchahead import FetchAhead
from bundler.resolve.resolver import ResolveOptions
from bundler.spec.project import ProjectPage
from tests.resolve.universe import FakeSource, Release, make_target


class _Unpacking(FakeSource):
    """Pages whose releases are made when first asked for, as a parsed
    index page's are; ``unpacked`` says which were."""

    def __init__(self) -> None:
        super().__init__({"foo": {v: Release() for v in ("1.0", "2.0", "3.0")}})
        self.unpacked: list[str] = []

    def _page(self, name: NormalizedName) -> ProjectPage:
        whole = super()._page(name)
        return ProjectPage(
            name,
            releases={
                v: functools.partial(self._unpack, v, whole.releases[v]) for v in whole.releases
            },
        )

    def _unpack(self, version: Version, files: tuple[IndexFile, ...]) -> tuple[IndexFile, ...]:
        self.unpacked.append(str(version))
        return files


def test_one_target_unpacks_only_the_release_it_takes() -> None:
    source = _Unpacking()
    ahead = FetchAhead(source, make_target(), ResolveOptions())
    ahead._fetch(spec_requirement(Requirement("foo")))
    ahead.close()
    assert source.unpacked == ["3.0"]
    assert source.metadata_calls == ["foo-3.0-py3-none-any.whl"]


def test_other_targets_look_at_the_three_newest_releases() -> None:
    source = _Unpacking()
    options = ResolveOptions(siblings=(make_target("3.12.1"),))
    ahead = FetchAhead(source, make_target(), options)
    ahead._fetch(spec_requirement(Requirement("foo")))
    ahead.close()
    assert sorted(source.unpacked) == ["1.0", "2.0", "3.0"]
