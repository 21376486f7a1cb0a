"""Fetching the dependency graph ahead of the resolver.

Each requirement the resolver meets starts a background fetch of its page
and of the metadata of the release it will most likely pin; as that
metadata arrives, its own dependencies (markers evaluated for the target)
are fetched the same way, so the graph comes in level by level in parallel
rather than one resolver step at a time.  The other targets of a lock have
the wheel each of them would most likely take fetched along.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.index.fetchahead import AHEAD_LIMIT, Pacer
from bundler.models import CoreMetadata, DistKind, IndexFile
from bundler.resolve.candidates import SpecRequirement, parse_dependency
from bundler.spec.selection import best_file, usable_files
from bundler.spec.target import Target

if TYPE_CHECKING:
    from bundler.resolve.resolver import PackageSource, ResolveOptions

__all__ = ["FetchAhead"]


class FetchAhead:
    """Guesses of what the resolver will ask for, fetched in a thread pool.

    Only thread-safe, memoizing source calls are made, and no resolver
    state is touched: a wrong guess costs a fetch, never an answer.  Never
    builds anything (wheels only).
    """

    def __init__(self, source: PackageSource, target: Target, options: ResolveOptions) -> None:
        self.source = source
        self.target = target
        self.options = options
        # Threads wait for their turn (Pacer): as many run as keep the CPU
        # busy, more over a distant index than over a near one.
        self._pacer = Pacer(AHEAD_LIMIT)
        self._pool = ThreadPoolExecutor(max_workers=AHEAD_LIMIT, thread_name_prefix="bundler-warm")
        self._started: set[str] = set()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Drop what is still queued or waiting for its turn; fetches under
        way finish on their own."""
        self._pacer.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def start(self, requirements: Iterable[SpecRequirement]) -> None:
        """Start fetching pages and likely metadata for ``requirements``."""
        todo: list[SpecRequirement] = []
        with self._lock:
            for req in requirements:
                if not self.options.warm_known and self.source.has_project(req.name):
                    continue
                key = f"{req.name} {req.specifier}"
                if key not in self._started:
                    self._started.add(key)
                    todo.append(req)
        for req in todo:
            with contextlib.suppress(RuntimeError):  # shut down
                self._pool.submit(self._fetch, req)

    def _fetch(self, req: SpecRequirement) -> None:
        with contextlib.suppress(Exception), self._pacer.turn():
            page = self.source.get_project(req.name)
            releases = page.releases
            prereleases: bool | None = True if self.options.allow_prereleases else None
            versions = list(page.matching(req.specifier, prereleases))
            preferred = self.options.preferences.get(req.name)
            if preferred is not None and preferred in releases:
                versions.insert(0, preferred)

            def listed(version: Version) -> list[IndexFile]:
                return [f for f in releases[version] if not f.is_yanked]

            if self.options.siblings:
                likely = [listed(v) for v in versions[:3]]
                mine = self._likely_file(likely, self.target)
                self._fetch_for_siblings(likely, mine)
            else:
                # Only the releases looked at are unpacked: the first with a
                # file for this target is usually the newest.
                mine = self._likely_file(map(listed, versions[:3]), self.target)
            if mine is not None and mine.kind is DistKind.WHEEL:
                meta = self.source.get_metadata(mine)
                # Its dependencies next, without waiting for the resolver to
                # get there: the whole graph is fetched in parallel, not one
                # level per resolver step.
                self.start(self._likely_dependencies(meta, req.extras))

    def _likely_file(self, likely: Iterable[list[IndexFile]], target: Target) -> IndexFile | None:
        """The file ``target`` most likely takes: the best of the first of
        the ``likely`` releases (their files) that has one for it."""
        for listed in likely:
            usable, _ = usable_files(
                listed, target, self.options.policy, self.options.exclude_newer
            )
            best = best_file(usable, target, self.options.policy)
            if best is not None:
                return best
        return None

    def _fetch_for_siblings(self, likely: list[list[IndexFile]], mine: IndexFile | None) -> None:
        # Each sibling's own likely release: a newer one than this target's
        # when this target cannot use it (its Python is too old, say).
        theirs: dict[str, IndexFile] = {}
        for target in self.options.siblings:
            best = self._likely_file(likely, target)
            mine_too = mine is not None and best is not None and best.url == mine.url
            if best is not None and best.kind is DistKind.WHEEL and not mine_too:
                theirs.setdefault(best.url, best)
        if theirs:
            self.source.prefetch_metadata(theirs.values())

    def _likely_dependencies(
        self, meta: CoreMetadata, extras: frozenset[NormalizedName]
    ) -> list[SpecRequirement]:
        wanted: tuple[str | None, ...] = (None, *sorted(extras))
        likely: list[SpecRequirement] = []
        for line in meta.requires_dist:
            marker, sreq = parse_dependency(line)
            if marker is None or any(self.target.evaluate_marker(marker, e) for e in wanted):
                likely.append(sreq)
        return likely
