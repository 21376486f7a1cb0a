"""The lock loop: the requirements resolved for every target (a target
that sees the index as an earlier one did takes its resolution by
replay), files hashed, build requirements resolved, and all merged into
one Lock."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.requirements import Requirement
from packaging.utils import NormalizedName
from packaging.version import Version

from bundler.errors import BundlerError, MultipleErrors, UsageError
from bundler.index.client import HttpClient
from bundler.lock.hashing import direct_file, with_hashes
from bundler.lock.inputs import LockOptions, binary_policy, recorded_line
from bundler.lock.patchlevels import patch_sensitive
from bundler.models import IndexSettings, Lock, LockInput
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.resolution import Resolution
from bundler.spec.target import Target

if TYPE_CHECKING:
    from bundler.index.collector import PackageIndex
    from bundler.resolve.builddeps import BuildingSource
    from bundler.resolve.replay import Trace
    from bundler.resolve.resolver import ResolveOptions, RootRequirement
    from bundler.spec.reqfile import ParsedRequirement, RequirementsInput
    from bundler.spec.selection import BinaryPolicy

__all__ = ["REPLAY", "lock", "unknown_upgrades"]

# Whether a target may take an earlier target's resolution (resolver.replay);
# off only to check that it gives what the resolver gives.
REPLAY = True


def lock(
    requirements: RequirementsInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    options: LockOptions,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    existing: LockInput | None = None,
    workers: int = 8,
) -> Lock:
    """Resolve the requirements for every target and merge into one Lock."""
    from bundler.index.collector import PackageIndex
    from bundler.lock.merge import LockInputs, build_lock
    from bundler.resolve.builddeps import resolve_build_requirements

    policy = binary_policy(requirements, options)
    resolve_options = _resolve_options(requirements, options, policy, reporter)
    roots = _Roots(
        requirements=tuple(_root(r, client) for r in requirements.requirements),
        constraints=(
            *(_root_constraint(c) for c in requirements.constraints),
            *(_upgrade_constraint(r) for r in options.upgrade_constraints),
        ),
    )
    reporter.stage("resolving")
    with PackageIndex(indexes, client, reporter, workers=workers) as index:
        resolutions = _TargetLoop(roots, index, client, reporter).run(
            targets, resolve_options, options, existing
        )
        # Hashed first: an sdist's build system is then read from the cache.
        resolutions = [with_hashes(r, index) for r in resolutions]
        build = resolve_build_requirements(resolutions, index, client, resolve_options, reporter)
        build = [with_hashes(r, index) for r in build]
    locked = build_lock(
        resolutions,
        LockInputs(
            # As written, credentials removed and ${VAR} unexpanded: these
            # lines end up in bundle.json.
            requirements=tuple(recorded_line(r) for r in requirements.requirements),
            constraints=tuple(recorded_line(c) for c in requirements.constraints),
            indexes=indexes,
            allow_prereleases=resolve_options.allow_prereleases,
        ),
        build,
    )
    said: set[str] = set()
    for resolution in resolutions:
        for warning in (*resolution.warnings, *patch_sensitive(resolution)):
            if warning not in said:
                said.add(warning)
                reporter.warning(warning)
    for name in unknown_upgrades(options, locked, existing):
        where = f" or in {existing.path}" if existing is not None else ""
        reporter.warning(
            f"--upgrade-package {name}: not in the requirements{where}; nothing to upgrade"
        )
    return dataclasses.replace(
        locked,
        only_binary=tuple(sorted(policy.only_binary)),
        no_binary=tuple(sorted(policy.no_binary)),
    )


def _resolve_options(
    requirements: RequirementsInput,
    options: LockOptions,
    policy: BinaryPolicy,
    reporter: Reporter,
) -> ResolveOptions:
    """What every target's resolution is asked for (before its preferences)."""
    from bundler.resolve.resolver import ResolveOptions

    return ResolveOptions(
        allow_prereleases=options.allow_prereleases or requirements.pre,
        policy=policy,
        exclude_newer=options.exclude_newer,
        detail=reporter.detail if reporter.verbose else None,
    )


@dataclass(frozen=True)
class _Roots:
    """What every target resolves: the requirements and the constraints."""

    requirements: tuple[RootRequirement, ...]
    constraints: tuple[RootRequirement, ...]


class _TargetLoop:
    """Resolves the roots for each target in turn over one index, replaying
    an earlier target's resolution where it applies."""

    def __init__(
        self, roots: _Roots, index: PackageIndex, client: HttpClient, reporter: Reporter
    ) -> None:
        self.roots = roots
        self.index = index
        self.client = client
        self.reporter = reporter
        self.traces: list[Trace] = []

    def run(
        self,
        targets: Sequence[Target],
        resolve_options: ResolveOptions,
        options: LockOptions,
        existing: LockInput | None,
    ) -> list[Resolution]:
        """One resolution per target, in order; every target's failure is
        raised together."""
        resolutions: list[Resolution] = []
        errors: list[BundlerError] = []
        for target in targets:
            self.reporter.info(f"resolving for {target.name}")
            target_options = dataclasses.replace(
                resolve_options,
                preferences=_preferences(existing, options, target),
                # The first target fetches ahead for the others too; they
                # fetch ahead only what is new to them.
                siblings=tuple(targets[1:]) if target is targets[0] else (),
                warm_known=target is targets[0],
            )
            try:
                resolutions.append(self._resolve(target, target_options))
            except BundlerError as err:
                errors.append(err)
        if errors:
            raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
        return resolutions

    def _resolve(self, target: Target, options: ResolveOptions) -> Resolution:
        from bundler.resolve.builddeps import BuildingSource
        from bundler.resolve.replay import resolve_traced

        source = BuildingSource(
            self.index, self.client, target, options, self.reporter, advise=True
        )
        found = self._replay(source, target, options)
        if found is not None:
            return found
        resolution, trace = resolve_traced(
            self.roots.requirements, self.roots.constraints, source, target, options
        )
        self.traces.append(trace)
        return resolution

    def _replay(
        self, source: BuildingSource, target: Target, options: ResolveOptions
    ) -> Resolution | None:
        """A target that sees the index as an earlier one did (same Python,
        same markers, files alike) gets its resolution without running the
        resolver again (resolver.Trace)."""
        from bundler.resolve.replay import replay

        for earlier in self.traces if REPLAY else ():
            try:
                found = replay(
                    earlier,
                    self.roots.requirements,
                    self.roots.constraints,
                    source,
                    target,
                    options,
                )
            except BundlerError:
                found = None  # resolving reports it
            if found is not None:
                return found
        return None


def unknown_upgrades(
    options: LockOptions, locked: Lock, existing: LockInput | None
) -> list[NormalizedName]:
    """The projects ``--upgrade-package`` names that neither the new lock nor
    the existing one pins (a typo, or a project dropped): pip-compile makes
    each a constraint that applies to nothing, silently."""
    known = {p.name for p in locked.packages}
    if existing is not None:
        known.update(p.name for p in existing.pins)
    return sorted(n for n in options.upgrade_packages if n not in known)


def _preferences(
    existing: LockInput | None, options: LockOptions, target: Target
) -> dict[NormalizedName, Version]:
    """An existing lock's pins for ``target`` (pip-compile keeps them while
    they still fit), minus what is being upgraded."""
    if existing is None or options.upgrade:
        return {}
    out: dict[NormalizedName, Version] = {}
    for pin in existing.pins:
        if pin.name in options.upgrade_packages or pin.build_only:
            continue
        marker = Requirement(f"x; {pin.marker}").marker if pin.marker else None
        if target.evaluate_marker(marker):
            out.setdefault(pin.name, pin.version)
    return out


def _root(req: ParsedRequirement, client: HttpClient) -> RootRequirement:
    from bundler.resolve.resolver import RootRequirement

    url_file = None
    if req.url is not None:
        url_file = direct_file(req, client)
    return RootRequirement(
        requirement=req.requirement,
        source=req.source,
        via=req.via or f"-r {req.comes_from}",
        url_file=url_file,
        hashes=req.hashes if url_file is None else (),
    )


def _root_constraint(c: ParsedRequirement) -> RootRequirement:
    from bundler.resolve.resolver import RootRequirement

    if c.url is not None:
        # pip would install the project from that very file whenever it is
        # required; read as a name alone, the lock would take the index's.
        raise UsageError(
            f"{c.source}: a direct reference in a constraints file ({c.requirement.name} @"
            f" {redact_url(c.url)}) cannot be locked as a constraint",
            hint=f"put '{c.requirement.name} @ <url>' in the requirements instead",
        )
    return RootRequirement(c.requirement, c.source, c.via or f"-c {c.comes_from}")


def _upgrade_constraint(req: Requirement) -> RootRequirement:
    from bundler.resolve.resolver import RootRequirement

    return RootRequirement(req, f"--upgrade-package {req}", f"-P {req}")
