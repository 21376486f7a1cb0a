"""Commands as functions: each wires stages together through data.

The stages (resolver, downloader, index writer, verifier) never import one
another; this module composes them.  It never prints: progress goes to the
Reporter and problems are raised as BundlerError.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
import tempfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler import __version__
from bundler.bundle.layout import FILES_DIR, MANIFEST_NAME, SIMPLE_DIR
from bundler.errors import (
    BundlerError,
    InputFileError,
    MultipleErrors,
    UsageError,
)
from bundler.fsutil import updating, write_output
from bundler.index.http import HttpClient, redact_url
from bundler.index.settings import hash_matched
from bundler.models import (
    BundleArtifact,
    CoreMetadata,
    DistKind,
    IndexFile,
    IndexSettings,
    IndexStrategy,
    Lock,
    LockedFile,
    LockedPackage,
    LockFileRef,
    LockInput,
    LockPin,
    Manifest,
    NamedIndex,
    Resolution,
    ResolvedPackage,
)
from bundler.redact import strip_credentials as redact_credentials
from bundler.reporting import NULL_REPORTER, Reporter
from bundler.spec.filenames import parse_filename
from bundler.spec.lockfile import SPLIT
from bundler.spec.target import Target, target_from_name

if TYPE_CHECKING:
    from bundler.index.collector import PackageIndex
    from bundler.lock.check import Difference, InputRecord, Inputs, Line
    from bundler.resolve.resolver import RootRequirement
    from bundler.spec.projectinput import Project, ProjectSelection
    from bundler.spec.reqfile import ParsedRequirement, RequirementsInput
    from bundler.spec.selection import BinaryPolicy

# An input file name that means standard input (pip-compile's).
STDIN = "-"
# PEP 751 lock file names.
_PYLOCK_NAME = re.compile(r"pylock\.toml|pylock\.[^.]+\.toml")

# Modules only some commands need are imported where they are used: a
# command pays at start-up for what it runs, not for the whole tool.


@dataclass(frozen=True)
class LockOptions:
    allow_prereleases: bool = False
    upgrade: bool = False
    upgrade_packages: frozenset[NormalizedName] = frozenset()
    # pip-compile's -P NAME==1.2.3 (any specifier): a constraint on the
    # upgraded project, so it moves to exactly that version, up or down.
    upgrade_constraints: tuple[Requirement, ...] = ()
    policy: BinaryPolicy | None = None  # None: from the requirements files
    # --exclude-newer: only files uploaded before it (an aware datetime).
    exclude_newer: datetime | None = None


# --- lock ------------------------------------------------------------------------


def read_requirements(  # noqa: C901, PLR0912
    paths: Sequence[Path],
    selection: ProjectSelection | None = None,
    constraints: Sequence[Path] = (),
    stdin: str | None = None,
) -> RequirementsInput:
    """Parse requirements files and project files (pyproject.toml,
    setup.cfg: their dependencies and the extras and groups ``selection``
    names) into one input, with the constraints files given on the command
    line (pip-compile's ``-c``).  The path ``-`` stands for ``stdin``, the
    text of a requirements file whose relative paths are relative to the
    working directory (pip-compile's ``-r -``)."""
    from bundler.spec.projectinput import (
        ProjectSelection,
        is_project_file,
        read_project,
        select_requirements,
    )
    from bundler.spec.reqfile import (
        RequirementsInput,
        parse_requirements_file,
        parse_requirements_text,
        read_requirements_file,
    )

    selection = selection or ProjectSelection()
    if not paths:
        raise UsageError("no requirements file given", hint="bundle lock requirements.in")
    inputs: list[RequirementsInput] = []
    projects: list[Project] = []
    errors: list[BundlerError] = []
    for path in paths:
        if str(path) == STDIN and stdin is not None:
            try:
                inputs.append(
                    parse_requirements_text(stdin, STDIN, read_file=read_requirements_file)
                )
            except BundlerError as err:
                errors.append(err)
            continue
        if not path.is_file():
            errors.append(UsageError(f"{path}: no such file"))
            continue
        try:
            if is_project_file(path):
                projects.append(read_project(path))
            else:
                inputs.append(parse_requirements_file(path))
        except BundlerError as err:
            errors.append(err)
    constrained: list[RequirementsInput] = []
    for path in constraints:
        if not path.is_file():
            errors.append(UsageError(f"-c {path}: no such constraints file"))
            continue
        try:
            constrained.append(parse_requirements_file(path, constraint=True))
        except BundlerError as err:
            errors.append(err)
    if selection.asked and not projects and not errors:
        # pip-compile: "--extra has effect only with setup.py and PEP-517 input formats".
        errors.append(
            UsageError(
                "--extra, --all-extras and --group select from a project:"
                f" {', '.join(str(p) for p in paths)} is no pyproject.toml or setup.cfg",
                hint="bundle lock pyproject.toml --extra NAME",
            )
        )
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    if projects:
        # A project's build backend runs once the sources are known
        # (prepare_projects); the extras and groups are then selected from
        # every project at once.
        dynamic = any(p.dynamic for p in projects)
        inputs.append(
            RequirementsInput(
                requirements=() if dynamic else select_requirements(projects, selection),
                constraints=(),
                indexes=IndexSettings(),
                files=tuple(p.path for p in projects),
                projects_to_prepare=tuple(p.path for p in projects) if dynamic else (),
            )
        )
    # Their options apply, as those of a file included with -c do.
    inputs += constrained
    first = inputs[0]
    for other in inputs[1:]:
        first = dataclasses.replace(
            first,
            requirements=first.requirements + other.requirements,
            constraints=first.constraints + other.constraints,
            indexes=IndexSettings(
                index_url=other.indexes.index_url
                if getattr(other, "index_url_set", False)
                else first.indexes.index_url,
                extra_index_urls=first.indexes.extra_index_urls + other.indexes.extra_index_urls,
                find_links=first.indexes.find_links + other.indexes.find_links,
            ),
            index_url_set=first.index_url_set or other.index_url_set,
            no_index=first.no_index or other.no_index,
            pre=first.pre or other.pre,
            only_binary=first.only_binary | other.only_binary,
            no_binary=first.no_binary | other.no_binary,
            prefer_binary=first.prefer_binary or other.prefer_binary,
            files=first.files + other.files,
            projects_to_prepare=first.projects_to_prepare + other.projects_to_prepare,
        )
    return first


def prepare_projects(
    requirements: RequirementsInput,
    selection: ProjectSelection,
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
) -> RequirementsInput:
    """``requirements`` with those of its projects to prepare added: each
    project whose dependencies only its build backend can tell has its
    metadata prepared (build requirements from ``indexes``), then the
    extras and groups ``selection`` names are taken from every project."""
    if not requirements.projects_to_prepare:
        return requirements
    from bundler.index.collector import PackageIndex
    from bundler.resolve.builddeps import prepare_project_metadata
    from bundler.resolve.resolver import ResolveOptions
    from bundler.spec.metadata import parse_metadata
    from bundler.spec.projectinput import project_from_metadata, read_project, select_requirements

    projects: list[Project] = []
    with PackageIndex(indexes, client, reporter, workers=workers) as index:
        for shown in requirements.projects_to_prepare:
            path = Path(shown)
            project = read_project(path)
            if project.dynamic:
                raw = prepare_project_metadata(
                    path.parent if str(path.parent) else Path("."),
                    shown,
                    index,
                    client,
                    ResolveOptions(allow_prereleases=requirements.pre),
                    reporter,
                )
                meta = parse_metadata(raw, f"{shown} (metadata from the build backend)")
                project = project_from_metadata(
                    project, project.name or meta.name, meta.requires_dist, meta.provides_extra
                )
            projects.append(project)
    return dataclasses.replace(
        requirements,
        requirements=requirements.requirements + select_requirements(projects, selection),
        projects_to_prepare=(),
    )


def _root(req: ParsedRequirement, client: HttpClient) -> RootRequirement:
    from bundler.resolve.resolver import RootRequirement

    url_file = None
    if req.url is not None:
        url_file = _direct_file(req, client)
    return RootRequirement(
        requirement=req.requirement,
        source=req.source,
        via=req.via or f"-r {req.comes_from}",
        url_file=url_file,
    )


def _direct_file(req: ParsedRequirement, client: HttpClient) -> IndexFile:
    """An IndexFile for a direct reference, hashed (a lock needs the hash)."""
    assert req.url is not None
    url = req.url.split("#", 1)[0]
    filename = url.rstrip("/").rsplit("/", 1)[-1]
    parsed = parse_filename(filename, req.name)
    if parsed is None or parsed.name != req.name:
        raise UsageError(
            f"{req.source}: {redact_url(url)} is not a wheel or sdist of {req.name}",
            hint="direct references must point at a distribution file"
            " (VCS and directory references cannot be bundled)",
        )
    with tempfile.TemporaryDirectory(prefix="bundler-direct-") as tmp:
        expected = next((h.split(":", 1)[1] for h in req.hashes if h.startswith("sha256:")), None)
        digest, size = client.fetch_to_file(
            url, Path(tmp) / filename, sha256=expected, size=None, progress=None
        )
    return IndexFile(
        filename=filename,
        url=url,
        project=req.name,
        version=parsed.version,
        kind=parsed.kind,
        hashes={"sha256": digest},
        size=size,
        index="direct reference",
    )


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
    from bundler.resolve.builddeps import BuildingSource, resolve_build_requirements
    from bundler.resolve.replay import Trace, replay, resolve_traced
    from bundler.resolve.resolver import ResolveOptions

    policy = _policy(requirements, options)
    resolve_options = ResolveOptions(
        allow_prereleases=options.allow_prereleases or requirements.pre,
        policy=policy,
        exclude_newer=options.exclude_newer,
        detail=reporter.detail if reporter.verbose else None,
    )
    roots = [_root(r, client) for r in requirements.requirements]
    constraints = [_root_constraint(c) for c in requirements.constraints]
    constraints += [_upgrade_constraint(r) for r in options.upgrade_constraints]
    reporter.stage("resolving")
    with PackageIndex(indexes, client, reporter, workers=workers) as index:
        resolutions: list[Resolution] = []
        errors: list[BundlerError] = []
        traces: list[Trace] = []
        for target in targets:
            reporter.info(f"resolving for {target.name}")
            target_options = dataclasses.replace(
                resolve_options,
                preferences=_preferences(existing, options, target),
                # The first target fetches ahead for the others too; they
                # fetch ahead only what is new to them.
                siblings=tuple(targets[1:]) if target is targets[0] else (),
                warm_known=target is targets[0],
            )
            source = BuildingSource(index, client, target, target_options, reporter, advise=True)
            # A target that sees the index as an earlier one did (same
            # Python, same markers, files alike) gets its resolution
            # without running the resolver again (replay.Trace).
            found = None
            for earlier in traces if REPLAY else ():
                try:
                    found = replay(earlier, roots, constraints, source, target, target_options)
                except BundlerError:
                    found = None  # resolving reports it
                if found is not None:
                    break
            if found is not None:
                resolutions.append(found)
                continue
            try:
                resolution, trace = resolve_traced(
                    roots, constraints, source, target, target_options
                )
            except BundlerError as err:
                errors.append(err)
            else:
                resolutions.append(resolution)
                traces.append(trace)
        if errors:
            raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
        # Hashed first: an sdist's build system is then read from the cache.
        resolutions = [_with_hashes(r, index) for r in resolutions]
        build = resolve_build_requirements(resolutions, index, client, resolve_options, reporter)
        build = [_with_hashes(r, index) for r in build]
    locked = build_lock(
        resolutions,
        LockInputs(
            # As written, credentials removed and ${VAR} unexpanded: these
            # lines end up in bundle.json.
            requirements=tuple(_recorded(r) for r in requirements.requirements),
            constraints=tuple(_recorded(c) for c in requirements.constraints),
            indexes=indexes,
            allow_prereleases=resolve_options.allow_prereleases,
        ),
        build,
    )
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


def _policy(requirements: RequirementsInput, options: LockOptions) -> BinaryPolicy:
    from bundler.spec.selection import BinaryPolicy

    return options.policy or BinaryPolicy(
        only_binary=frozenset(requirements.only_binary),
        no_binary=frozenset(requirements.no_binary),
        prefer_binary=requirements.prefer_binary,
    )


def lock_inputs(
    requirements: RequirementsInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    options: LockOptions,
) -> Inputs:
    """What a lock of these inputs records (``bundle lock --check`` compares
    it with the record in the lock): the requirement and constraint lines
    as ``lock`` records them, the targets, and the options that change the
    pins."""
    from bundler.lock.check import make_inputs, option_lines

    policy = _policy(requirements, options)
    return make_inputs(
        [_input_line(r) for r in requirements.requirements],
        [_input_line(c) for c in requirements.constraints],
        [t.name for t in targets],
        option_lines(
            allow_prereleases=options.allow_prereleases or requirements.pre,
            only_binary=policy.only_binary,
            no_binary=policy.no_binary,
            prefer_binary=policy.prefer_binary,
            indexes=indexes,
            exclude_newer=options.exclude_newer,
        ),
    )


def _input_line(req: ParsedRequirement) -> Line:
    from bundler.lock.check import Line

    path = req.source.rpartition(":")[0] if req.lineno else req.source
    return Line(_recorded(req), path or req.source, req.lineno or None)


def check_lock(
    path: Path,
    current: Inputs,
    relock: Callable[[LockInput], Lock],
    render: Callable[[Lock, InputRecord | None], str],
) -> list[Difference]:
    """How the lock at ``path`` differs from what ``bundle lock`` writes now
    (uv's ``--locked``).  A lock that records its inputs is first compared
    with them, which says why it is stale; then ``relock(its pins)`` (the
    inputs resolved again, its pins preferred, as ``bundle lock`` does) is
    rendered and compared with the file, line by line.  A lock that
    records no inputs (made before locks recorded them, or by pip-compile)
    is compared pin by pin first, then by the lines pip reads."""
    from bundler.lock.check import compare, compare_pins, compare_text, read_recorded

    existing = read_lock_file(path)
    text = path.read_text(encoding="utf-8")
    recorded = read_recorded(text, str(path), pylock=is_pylock(path))
    if recorded is not None:
        differences = compare(recorded, current)
        if differences:
            return differences
    fresh = relock(existing)
    if recorded is None:
        differences = compare_pins(existing, fresh)
        if differences:
            return differences
    if recorded is not None:
        return compare_text(text, render(fresh, current.record), str(path))
    # Its comments may be another tool's (pip-compile's header and annotations).
    return compare_text(text, render(fresh, None), str(path), comments=is_pylock(path))


def with_recorded_inputs(lock_: Lock, path: Path) -> Lock:
    """``lock_``, read from the lock at ``path``, with the requirement and
    constraint lines that lock records (``bundle lock`` writes them): the
    bundle's manifest then carries them as a built bundle's does, so that
    verify resolves them against the bundle and ``--check-inputs`` compares
    them.  A record edited by hand, or with a line that does not parse, is
    not taken."""
    from bundler.lock.check import PRE_OPTION, read_recorded

    recorded = read_recorded(path.read_text(encoding="utf-8"), str(path), pylock=is_pylock(path))
    if recorded is None or recorded.stated_digest != recorded.record.digest:
        return lock_
    record = recorded.record
    try:
        for text in record.requirements + record.constraints:
            Requirement(text)
    except InvalidRequirement:
        return lock_
    return dataclasses.replace(
        lock_,
        requirements=record.requirements,
        constraints=record.constraints,
        allow_prereleases=PRE_OPTION in record.options,
    )


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


def _recorded(req: ParsedRequirement) -> str:
    return req.line or redact_credentials(str(req.requirement))


def _root_constraint(c: ParsedRequirement) -> RootRequirement:
    from bundler.resolve.resolver import RootRequirement

    return RootRequirement(c.requirement, c.source, c.via or f"-c {c.comes_from}")


def _upgrade_constraint(req: Requirement) -> RootRequirement:
    from bundler.resolve.resolver import RootRequirement

    return RootRequirement(req, f"--upgrade-package {req}", f"-P {req}")


def hash_unhashed(files: Sequence[IndexFile], index: PackageIndex) -> dict[str, IndexFile]:
    """For files an index lists without a sha256, fetch them (through the
    content cache, once per URL) and return url -> the file with its sha256
    and size."""
    missing = [f for f in files if not f.sha256]
    if not missing:
        return {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        return {f.url: f for f in pool.map(index.hashed, missing)}


def _with_hashes(res: Resolution, index: PackageIndex) -> Resolution:
    """Fill in sha256 for files whose index gave none."""
    hashed = hash_unhashed([f for p in res.packages.values() for f in p.files], index)
    if not hashed:
        return res
    packages = {
        name: dataclasses.replace(
            p,
            files=tuple(hashed.get(f.url, f) for f in p.files),
            chosen=hashed.get(p.chosen.url, p.chosen),
        )
        for name, p in res.packages.items()
    }
    return Resolution(res.target, packages)


def lock_command_line(paths: Sequence[Path], extra: Sequence[str]) -> str:
    """The command recorded in a lock header (no credentials, no host paths),
    each argument quoted for a POSIX shell (a file name with a space)."""
    parts = ["bundle", "lock", *extra, *(p.name for p in paths)]
    return shlex.join(redact_url(p) for p in parts)


def is_pylock(path: Path) -> bool:
    """PEP 751 names: pylock.toml or pylock.<name>.toml."""
    return _PYLOCK_NAME.fullmatch(path.name) is not None


def check_lock_name(path: Path) -> None:
    """A lock file name selects its format: a ``.toml`` name that is not a
    PEP 751 one would get pip's requirements format under a TOML name."""
    if path.suffix.lower() == ".toml" and not is_pylock(path):
        raise UsageError(
            f"{path}: a TOML lock must be named pylock.toml or pylock.<name>.toml (PEP 751)",
            hint="-o pylock.toml for a PEP 751 lock, -o requirements.txt for pip's format",
        )


@dataclass(frozen=True)
class LockLayout:
    """How a requirements lock is laid out: pip-compile's ``--no-header``,
    ``--no-annotate`` and ``--annotation-style`` (a pylock.toml has none)."""

    header: bool = True
    annotate: bool = True
    annotation_style: str = SPLIT


def render_lock(
    lock_: Lock,
    command: str,
    *,
    pylock: bool = False,
    origins: Mapping[str, str] | None = None,
    inputs: InputRecord | None = None,
    layout: LockLayout = LockLayout(),
) -> str:
    """The lock as PEP 751 ``pylock.toml`` text, or as a hashed requirements
    file; ``origins``: where sources the command line does not show came from;
    ``inputs``: what it was made from, recorded for ``bundle lock --check``."""
    from bundler.lock.check import render_header_lines, render_pylock_table

    if pylock:
        from bundler.bundle.lockfiles import render_pylock_for

        text = render_pylock_for(lock_)
        return text + render_pylock_table(inputs) if inputs is not None else text
    from bundler.spec.lockfile import render_requirements_lock

    header = render_header_lines(inputs) if inputs is not None else ()
    return render_requirements_lock(
        lock_,
        command=command,
        origins=origins,
        inputs=header,
        header=layout.header,
        annotate=layout.annotate,
        annotation_style=layout.annotation_style,
    )


def write_lock(
    lock_: Lock,
    path: Path,
    command: str,
    origins: Mapping[str, str] | None = None,
    inputs: InputRecord | None = None,
    layout: LockLayout = LockLayout(),
) -> None:
    """Write the lock in the format its name selects (pylock.toml: PEP 751)."""
    check_lock_name(path)
    text = render_lock(
        lock_,
        command,
        pylock=is_pylock(path),
        origins=origins,
        inputs=inputs,
        layout=layout,
    )
    write_output(path, text)


def read_lock_file(path: Path) -> LockInput:
    if not path.is_file():
        raise UsageError(
            f"{path}: no such lock file", hint="create one with: bundle lock requirements.in"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputFileError(
            str(path), None, f"not UTF-8 text ({err.reason} at byte {err.start})"
        ) from err
    if is_pylock(path):
        from bundler.spec.pylock import read_pylock

        return read_pylock(text, str(path))
    from bundler.spec.lockfile import parse_hashed_requirements

    return parse_hashed_requirements(text, str(path))


# --- download ------------------------------------------------------------------------


def pins_without_files(lock_input: LockInput) -> list[NormalizedName]:
    """The pins whose files only their project's index page can tell (a
    requirements.txt lock names none; a PEP 751 lock names them all)."""
    return [p.name for p in lock_input.pins if p.url is None and not p.files]


def hydrate(
    lock_input: LockInput,
    targets: Sequence[Target],
    index: PackageIndex | None,
    client: HttpClient,
    on_files: Callable[[Sequence[LockedFile]], None] | None = None,
    workers: int = 8,
) -> Lock:
    """Find, for every pin of a hashed requirements file, the index files
    with the locked hashes, and which one each target installs.

    Each pin is handled as soon as its project's page is in (pages are
    fetched in parallel); ``on_files`` is then given the files some target
    installs, e.g. to start fetching them while other pages are on their way.
    ``index`` may be None when every pin names its files (a PEP 751 lock).
    """
    from bundler.spec.selection import BinaryPolicy

    policy = BinaryPolicy(only_binary=lock_input.only_binary, no_binary=lock_input.no_binary)
    names = pins_without_files(lock_input)
    if names:
        if index is None:
            raise UsageError(f"{lock_input.path}: its pins name no files: an index is needed")
        index.prefetch(names)

    def one(pin: LockPin) -> tuple[LockedPackage | None, list[BundlerError]]:
        problems: list[BundlerError] = []
        found = _hydrate_pin(pin, lock_input, targets, index, client, policy, problems)
        if found is not None and on_files is not None:
            on_files([f for f in found.files if f.targets])
        return found, problems

    errors: list[BundlerError] = []
    packages: list[LockedPackage] = []
    if names:  # pins wait for their pages: side by side
        with ThreadPoolExecutor(max(1, workers), thread_name_prefix="hydrate") as pool:
            outcomes = list(pool.map(one, lock_input.pins))  # in pin order
    else:  # CPU only (a PEP 751 lock names its files): threads would only wait
        outcomes = [one(pin) for pin in lock_input.pins]
    for found, problems in outcomes:
        errors.extend(problems)
        if found is not None:
            packages.append(found)
    if errors:
        raise errors[0] if len(errors) == 1 else MultipleErrors(errors)
    return Lock(
        packages=tuple(packages),
        targets=tuple(t.name for t in targets),
        indexes=lock_input.indexes,
        only_binary=tuple(sorted(lock_input.only_binary)),
        no_binary=tuple(sorted(lock_input.no_binary)),
    )


def _hydrate_pin(
    pin: LockPin,
    lock_input: LockInput,
    targets: Sequence[Target],
    index: PackageIndex | None,
    client: HttpClient,
    policy: BinaryPolicy,
    problems: list[BundlerError],
) -> LockedPackage | None:
    from bundler.lock.merge import locked_file
    from bundler.spec.selection import best_file, usable_files

    marker = Requirement(f"x; {pin.marker}").marker if pin.marker else None
    serving = [t for t in targets if t.evaluate_marker(marker)]
    if not serving:
        return None
    wanted = {h.split(":", 1)[1] for h in pin.hashes if h.startswith("sha256:")}
    if not wanted and pin.hashes:
        problems.append(
            InputFileError(
                lock_input.path,
                None,
                f"{pin.source}: {pin.name}=={pin.version} has only"
                f" {', '.join(sorted({h.split(':', 1)[0] for h in pin.hashes}))} hashes;"
                " bundler needs a sha256 for every file",
                hint="re-lock with --generate-hashes (pip-compile, uv) or bundle lock",
            )
        )
        return None
    if pin.url is not None:
        from bundler.spec.reqfile import ParsedRequirement

        req = ParsedRequirement(
            requirement=Requirement(f"{pin.name} @ {pin.url}"),
            name=pin.name,
            source=pin.source,
            comes_from=lock_input.path,
            hashes=pin.hashes,
            url=pin.url,
        )
        try:
            files = [_direct_file(req, client)]
        except BundlerError as err:
            problems.append(err)
            return None
    elif pin.files:
        # The lock names its files (PEP 751): no index page is needed.
        files = [_named_file(pin, ref) for ref in pin.files if ref.sha256 in wanted]
    else:
        assert index is not None  # hydrate checked it
        page = index.get_project(pin.name)
        release = list(page.release(pin.version))
        # An index may list files without hashes (a plain directory
        # listing): hash those to match them against the lock.
        hashed = hash_unhashed(release, index)
        release = [hashed.get(f.url, f) for f in release]
        files = [f for f in release if f.sha256 in wanted]
    if not files:
        problems.append(
            BundlerError(
                f"{pin.source}: {pin.name}=={pin.version}: no file with a locked hash"
                " is on the configured indexes",
                hint="check --index-url / --find-links, or re-lock",
            )
        )
        return None
    chosen: dict[str, list[str]] = {}
    for target in serving:
        usable, skipped = usable_files(files, target, policy)
        best = best_file(usable, target, policy)
        if best is None:
            why = "; ".join(sorted({s.reason for s in skipped})) or "no files"
            problems.append(
                BundlerError(
                    f"{pin.name}=={pin.version} has no locked file usable on target"
                    f" {target.name} ({why})",
                    hint="lock for this target, or allow an sdist for it",
                )
            )
            continue
        chosen.setdefault(best.filename, []).append(target.name)
    return LockedPackage(
        name=pin.name,
        version=pin.version,
        files=tuple(
            locked_file(f, tuple(chosen.get(f.filename, ())))
            for f in sorted(files, key=lambda f: f.filename)
        ),
        marker=pin.marker,
        via=pin.via,
        targets=tuple(t.name for t in serving),
        build_only=pin.build_only,
        direct_url=redact_url(pin.url) if pin.url else None,
    )


def with_build_requirements(
    lock_: Lock,
    lock_input: LockInput,
    targets: Sequence[Target],
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
) -> Lock:
    """``lock_`` plus the build requirements of the sdists its targets
    install, resolved against ``indexes`` as ``lock`` resolves them, when
    the lock read is a requirements file that names none (pip-compile and
    uv leave them out, and a bundle's requirements.txt keeps them out, see
    ``bundlelocks``): without them the bundle could not build those sdists
    and fails its gate.  A requirements file with build-only pins
    (``bundle lock``'s build section) is taken as it is, and so is a PEP
    751 lock, which names every file it needs (a bundle's pylock.toml
    lists the build requirements too)."""
    if not pins_without_files(lock_input) or any(pin.build_only for pin in lock_input.pins):
        return lock_
    by_name = {t.name: t for t in targets}
    sdists: dict[str, dict[NormalizedName, ResolvedPackage]] = {}
    for pkg in lock_.packages:
        for f in pkg.files:
            if f.kind is not DistKind.SDIST or not f.url:
                continue
            for name in f.targets:
                chosen = _locked_index_file(pkg, f)
                sdists.setdefault(name, {})[pkg.name] = ResolvedPackage(
                    name=pkg.name, version=pkg.version, files=(chosen,), chosen=chosen, via=()
                )
    if not sdists:
        return lock_
    from bundler.index.collector import PackageIndex
    from bundler.lock.merge import LockInputs, build_lock
    from bundler.resolve.builddeps import resolve_build_requirements
    from bundler.resolve.resolver import ResolveOptions
    from bundler.spec.selection import BinaryPolicy

    policy = BinaryPolicy(only_binary=lock_input.only_binary, no_binary=lock_input.no_binary)
    runtime = [Resolution(by_name[n], sdists[n]) for n in lock_.targets if n in sdists]
    reporter.info(f"{lock_input.path} names no build requirements: resolving those of its sdists")
    with PackageIndex(indexes, client, reporter, workers=workers) as index:
        build = resolve_build_requirements(
            runtime, index, client, ResolveOptions(policy=policy), reporter
        )
        build = [_with_hashes(r, index) for r in build]
    if not build:
        return lock_
    # Merged as ``lock`` merges them: markers select among all the targets.
    empty = [Resolution(t, {}) for t in targets]
    found = build_lock(empty, LockInputs(), build).packages
    return dataclasses.replace(lock_, packages=_merge_build(lock_.packages, found))


def _locked_index_file(pkg: LockedPackage, f: LockedFile) -> IndexFile:
    return IndexFile(
        filename=f.filename,
        url=f.url,
        project=pkg.name,
        version=pkg.version,
        kind=f.kind,
        hashes={"sha256": f.sha256},
        requires_python=f.requires_python,
        yanked=f.yanked,
        size=f.size,
        upload_time=f.upload_time,
        index=f.index,
    )


def _merge_build(
    packages: Sequence[LockedPackage], build: Sequence[LockedPackage]
) -> tuple[LockedPackage, ...]:
    """``build`` (all build-only) added to ``packages``; a release both
    list stays one pin, which also installs the files the builds take."""
    merged = {(p.name, p.version): p for p in packages}
    for pkg in build:
        key = (pkg.name, pkg.version)
        held = merged.get(key)
        if held is None:
            merged[key] = pkg
            continue
        wanted = {f.filename: f.targets for f in pkg.files}
        files = tuple(
            dataclasses.replace(f, targets=tuple(sorted({*f.targets, *wanted.get(f.filename, ())})))
            for f in held.files
        )
        merged[key] = dataclasses.replace(held, files=files)
    return tuple(merged.values())


def _named_file(pin: LockPin, ref: LockFileRef) -> IndexFile:
    parsed = parse_filename(ref.filename, pin.name)
    return IndexFile(
        filename=ref.filename,
        url=ref.url,
        project=pin.name,
        version=pin.version,
        kind=parsed.kind if parsed is not None else DistKind.SDIST,
        hashes={"sha256": ref.sha256},
        size=ref.size,
        upload_time=ref.upload_time,
        index=redact_url(ref.url.rsplit("/", 1)[0] + "/"),
    )


def _file_urls(lock_: Lock, index: PackageIndex) -> dict[str, str]:
    """URLs, from the index pages, of locked files the lock has none for
    (the client adds each host's credentials to a clean URL itself)."""
    urls: dict[str, str] = {}
    for pkg in lock_.packages:
        if pkg.direct_url:
            continue
        if all(f.url for f in pkg.files if f.targets):
            continue
        page = index.get_project(pkg.name)
        for f in page.release(pkg.version):
            urls.setdefault(f.filename, f.url)
        if any(f.filename not in urls for f in pkg.files if f.targets):
            for f in page.files:  # listed under another version: look everywhere
                urls.setdefault(f.filename, f.url)
    return urls


class _Rejected(Exception):
    """The new bundle was not accepted: it is discarded."""

    def __init__(self, manifest: Manifest) -> None:
        super().__init__("rejected")
        self.manifest = manifest


def download(
    lock_: Lock,
    out_dir: Path,
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
    accept: Callable[[Path], bool] | None = None,
) -> Manifest:
    """Fetch every file some target installs into ``out_dir/files`` and
    write the bundle's pages, manifest and requirements.txt.

    All or nothing: the new bundle is made beside ``out_dir`` (files it
    keeps are linked, not fetched again) and takes its place in one step
    (``fsutil.updating``); a run that fails, however, leaves ``out_dir``
    as it was.  With ``accept`` (``bundle build``'s gate), the new bundle
    is handed to it where it was made, and takes ``out_dir``'s place only
    if it returns True.  Returns the new bundle's manifest either way."""
    _check_output(out_dir)
    try:
        with updating(out_dir, wait=0.0) as stage:
            manifest = _download_into(lock_, stage, indexes, client, reporter, workers)
            if accept is not None and not accept(stage):
                raise _Rejected(manifest)
    except _Rejected as rejected:
        return rejected.manifest
    return manifest


def _check_output(out_dir: Path) -> None:
    """Refuse to make a bundle of a directory that holds something else
    (``-o .`` in a project): an update replaces the whole directory."""
    if not out_dir.is_dir() or (out_dir / MANIFEST_NAME).exists() or (out_dir / FILES_DIR).exists():
        return
    if next(out_dir.iterdir(), None) is not None:
        raise UsageError(
            f"{out_dir} is not a bundle and not empty: a bundle directory holds"
            " the bundle alone, and is replaced whole by each update",
            hint=f"choose a new or empty directory, e.g. {out_dir / 'pypi'}",
        )


def _download_into(
    lock_: Lock,
    out_dir: Path,
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter,
    workers: int,
) -> Manifest:
    """``download`` into ``out_dir``, a staging copy no reader sees."""
    from bundler.bundle.download import DownloadItem, download_all, prune
    from bundler.bundle.lockfiles import bundle_lock_files
    from bundler.bundle.pagewriter import write_index
    from bundler.bundle.sbom import with_sbom

    files_dir = out_dir / FILES_DIR
    previous = _read_previous_manifest(out_dir)
    urls: dict[str, str] = {}
    if any(not f.url for p in lock_.packages for f in p.files if f.targets):
        from bundler.index.collector import PackageIndex

        with PackageIndex(hash_matched(indexes), client, reporter, workers=workers) as index:
            urls = _file_urls(lock_, index)
    items: list[DownloadItem] = []
    for pkg in lock_.packages:
        for f in pkg.files:
            if not f.targets:
                continue
            url = f.url or urls.get(f.filename) or pkg.direct_url or ""
            items.append(DownloadItem(filename=f.filename, url=url, sha256=f.sha256, size=f.size))
    reporter.stage("downloading")
    results = download_all(items, files_dir, client, reporter, workers=workers, read_metadata=True)
    sizes = {r.filename: r.size for r in results}
    manifest = dataclasses.replace(_manifest(lock_, sizes), sbom=True)
    reporter.stage("writing index")
    metadata = {r.filename: r.metadata for r in results if r.metadata is not None}
    extra = with_sbom(out_dir, manifest, bundle_lock_files(lock_), metadata)
    written = write_index(out_dir, manifest, extra, metadata)
    unknown = prune(files_dir, {a.filename for a in written.artifacts}, previous)
    for name in unknown:
        reporter.warning(f"files/{name} is not part of this bundle (verify will flag it)")
    return written


def _read_previous_manifest(out_dir: Path) -> Manifest | None:
    path = out_dir / MANIFEST_NAME
    if not path.is_file():
        return None
    from bundler.bundle.manifest import manifest_from_json

    try:
        return manifest_from_json(path.read_bytes(), str(path))
    except BundlerError:
        return None


def _manifest(lock_: Lock, sizes: Mapping[str, int]) -> Manifest:
    from bundler.bundle.lockfiles import bundle_package

    return Manifest(
        artifacts=_artifacts(lock_, sizes),
        packages=tuple(bundle_package(p) for p in lock_.packages),
        targets=lock_.targets,
        requirements=lock_.requirements,
        constraints=lock_.constraints,
        allow_prereleases=lock_.allow_prereleases,
        created_by=f"bundler {__version__}",
        only_binary=lock_.only_binary,
        no_binary=lock_.no_binary,
    )


def _artifacts(lock_: Lock, sizes: Mapping[str, int]) -> tuple[BundleArtifact, ...]:
    """The files some target installs, by filename (sizes from ``sizes``,
    else from the lock)."""
    artifacts: dict[str, BundleArtifact] = {}
    for pkg in lock_.packages:
        for f in pkg.files:
            if not f.targets:
                continue
            prior = artifacts.get(f.filename)
            targets = tuple(sorted(set(f.targets) | set(prior.targets if prior else ())))
            artifacts[f.filename] = BundleArtifact(
                filename=f.filename,
                project=pkg.name,
                version=str(pkg.version),
                sha256=f.sha256,
                size=sizes.get(f.filename, f.size or 0),
                kind=f.kind,
                origin=f.index,
                targets=targets,
                build_only=pkg.build_only,
                requires_python=f.requires_python,
                yanked=f.yanked,
                upload_time=f.upload_time,
                needed_by=pkg.via,
            )
    return tuple(sorted(artifacts.values(), key=lambda a: a.filename))


# --- add ---------------------------------------------------------------------------


def bundle_first(bundle_dir: Path, indexes: IndexSettings) -> IndexSettings:
    """The sources for adding to a bundle: the bundle is the authority for
    what it already holds (private files among them), so it is searched
    first, then the configured sources."""
    bundle_index = NamedIndex("bundle", (bundle_dir / SIMPLE_DIR).resolve().as_uri() + "/")
    return dataclasses.replace(
        indexes,
        named_indexes=(bundle_index, *indexes.named_indexes),
        index_strategy=IndexStrategy.FIRST_INDEX,
    )


class SdistPreparer:
    """For ``bundle add``: the core metadata of a local sdist whose metadata
    is dynamic (PEP 643, e.g. a setup.py project), through its build backend
    as ``lock`` prepares it, for ``target``; build requirements come from
    ``indexes`` (see ``bundle_first``).  The sources are opened when first
    needed and closed with ``close``."""

    def __init__(
        self,
        indexes: IndexSettings,
        client: HttpClient,
        target: Target,
        reporter: Reporter = NULL_REPORTER,
        workers: int = 8,
    ) -> None:
        self.indexes = indexes
        self.client = client
        self.target = target
        self.reporter = reporter
        self.workers = workers
        self._index: PackageIndex | None = None

    def __call__(self, path: Path, filename: str) -> CoreMetadata:
        from bundler.fsutil import sha256_file
        from bundler.index.collector import PackageIndex
        from bundler.resolve.builddeps import BuildingSource
        from bundler.resolve.resolver import ResolveOptions

        dist = parse_filename(filename)
        if dist is None or dist.kind is not DistKind.SDIST:
            raise UsageError(f"{filename}: not an sdist file name")
        if self._index is None:
            self._index = PackageIndex(
                self.indexes, self.client, self.reporter, workers=self.workers
            )
        digest, size = sha256_file(path)
        file = IndexFile(
            filename=filename,
            url=path.resolve().as_uri(),
            project=dist.name,
            version=dist.version,
            kind=DistKind.SDIST,
            hashes={"sha256": digest},
            size=size,
            index="local",
        )
        source = BuildingSource(
            self._index, self.client, self.target, ResolveOptions(), self.reporter
        )
        return source.get_metadata(file)

    def close(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def __enter__(self) -> SdistPreparer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def add(
    bundle_dir: Path,
    paths: Sequence[Path],
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter = NULL_REPORTER,
    workers: int = 8,
    *,
    fetch_dependencies: bool = True,
) -> Manifest:
    """``bundle add``: the files at ``paths`` into the bundle (an sdist with
    dynamic metadata prepared for this machine's target through its build
    backend, ``SdistPreparer``), then, with ``fetch_dependencies``, whatever
    they need that the bundle lacks, fetched from ``indexes``
    (``_extend_into``).  Both steps change one copy of the bundle, which
    replaces it when both succeeded: a failure in either leaves the bundle
    as it was."""
    from bundler.bundle.add import add_into, added_requirements, check_bundle
    from bundler.spec.target import host_target

    check_bundle(bundle_dir, paths)
    with (
        updating(bundle_dir, wait=0.0) as stage,
        SdistPreparer(
            bundle_first(bundle_dir, indexes), client, host_target(), reporter, workers
        ) as prepare,
    ):
        manifest = add_into(stage, paths, reporter, prepare)
        needs = added_requirements(manifest, paths, prepare)
        if needs and fetch_dependencies:
            reporter.info(f"resolving what the added files need: {', '.join(needs)}")
            names = {p.name for p in paths}
            added = [f"{a.project}=={a.version}" for a in manifest.artifacts if a.filename in names]
            manifest = _extend_into(
                stage, bundle_dir, manifest, added, indexes, client, reporter, workers
            )
        return manifest


def _extend_into(
    bundle_dir: Path,
    shown_dir: Path,
    manifest: Manifest,
    added: Sequence[str],
    indexes: IndexSettings,
    client: HttpClient,
    reporter: Reporter,
    workers: int,
) -> Manifest:
    """After the files are added to ``bundle_dir`` (a staging copy no
    reader sees): resolve the bundle's inputs plus the ``added`` pins for
    every target of the bundle, the bundle itself searched first, and
    fetch whatever the added distributions need that it lacks.  Existing
    pins are kept where they still fit.  Messages name ``shown_dir``, the
    bundle the copy will replace."""
    targets = [target_from_name(name) for name in manifest.targets]
    runtime = [p for p in manifest.packages if not p.build_only]
    texts = list(manifest.requirements) or [
        f"{p.name}=={p.version}" + (f" ; {p.marker}" if p.marker else "") for p in runtime
    ]
    texts += [t for t in added if t not in texts]
    source = f"{shown_dir / MANIFEST_NAME}"

    from bundler.spec.reqfile import ParsedRequirement, RequirementsInput

    def parsed(line: str) -> ParsedRequirement:
        req = Requirement(line)
        return ParsedRequirement(
            requirement=req,
            name=canonicalize_name(req.name),
            source=source,
            comes_from=MANIFEST_NAME,
            line=line,
        )

    requirements = RequirementsInput(
        requirements=tuple(parsed(t) for t in texts),
        constraints=tuple(parsed(c) for c in manifest.constraints),
        indexes=IndexSettings(),
        pre=manifest.allow_prereleases,
    )
    sources = bundle_first(bundle_dir, indexes)
    existing = LockInput(
        pins=tuple(LockPin(p.name, p.version, (), marker=p.marker) for p in runtime),
        indexes=IndexSettings(),
        path=source,
    )
    locked = lock(
        requirements, targets, sources, LockOptions(), client, reporter, existing, workers
    )
    return _download_into(locked, bundle_dir, sources, client, reporter, workers)


__all__ = [
    "DistKind",
    "LockOptions",
    "SdistPreparer",
    "add",
    "bundle_first",
    "check_lock_name",
    "download",
    "hydrate",
    "lock",
    "read_lock_file",
    "read_requirements",
    "render_lock",
    "unknown_upgrades",
    "write_lock",
]
