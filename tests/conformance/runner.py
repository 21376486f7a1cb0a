"""Run the packse resolver scenarios through bundler's real resolution path.

A packse scenario (astral-sh/packse) is a tiny package universe: root
requirements, resolver options and an expected outcome.  Each one is built
as real wheels and sdists, published as a PEP 503 index (a static
``file://`` tree, or an HTTP server on 127.0.0.1), read by ``PackageIndex``
over ``HttpClient`` and resolved with ``resolve`` for one target or, for
``universal`` scenarios, for every environment the scenario's markers tell
apart.  The outcome is compared with the scenario's ``[expected]`` table.

packse's expectations come from uv.  Where uv and pip disagree, pip is the
reference: such scenarios are listed in ``DIFFERENCES`` with pip's observed
outcome, which bundler must then match (``docs/conformance.md``).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import enum
import itertools
import json
import os
import re
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.tags import parse_tag
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler.errors import BundlerError, ResolutionFailed
from bundler.index.client import HttpClient
from bundler.index.collector import PackageIndex
from bundler.models import IndexSettings
from bundler.resolve.resolver import ResolveOptions, RootRequirement, resolve
from bundler.spec.selection import BinaryPolicy
from bundler.spec.target import Target, host_target, make_target
from tests.support.distbuilder import DistSpec, build_all, packse_specs, yanked_files
from tests.support.indexserver import IndexConfig, IndexServer, write_static_index
from tests.support.piputil import clean_pip_env

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

# Where the scenarios live: $BUNDLE_CONFORMANCE_SCENARIOS, else the copy kept
# next to this file (packse's scenarios/ directory, with its licence files).
SCENARIOS_ENV = "BUNDLE_CONFORMANCE_SCENARIOS"
BUNDLED_SCENARIOS = Path(__file__).resolve().parent / "packse" / "scenarios"

# packse's defaults (src/packse/scenario.py): the active Python is 3.12, and
# the root project and every package that names none require Python >=3.12.
DEFAULT_PYTHON = "3.12"
DEFAULT_ROOT_REQUIRES_PYTHON = ">=3.12"
DEFAULT_REQUIRES_PYTHON = ">=3.12"
# Every scenario is a handful of releases: needing more rounds than this
# means the resolver is looping, not searching.
MAX_ROUNDS = 5000
# uv's scenario tests run on Linux x86_64; a non-Linux host resolves as this.
FALLBACK_PLATFORM = "manylinux_2_28_x86_64"

KNOWN_OPTIONS = frozenset(
    {
        "python",
        "python_platform",
        "prereleases",
        "no_build",
        "no_binary",
        "universal",
        "required_environments",
    }
)

Transport = Literal["file", "http"]


class Status(str, enum.Enum):
    PASSED = "passed"
    DOCUMENTED = "documented"  # bundler matches pip where uv's expectation differs
    FAILED = "failed"
    SKIPPED = "skipped"


# --- scenarios ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One packse scenario file, parsed."""

    category: str  # the directory, e.g. "prereleases"
    name: str  # packse's name, e.g. "package-only-prereleases"
    path: Path
    data: Mapping[str, Any] = field(repr=False, compare=False)

    @property
    def id(self) -> str:
        return f"{self.category}/{self.name}"

    @property
    def options(self) -> Mapping[str, Any]:
        options: Mapping[str, Any] = self.data.get("resolver_options", {})
        return options

    @property
    def requires(self) -> tuple[str, ...]:
        return tuple(self.data.get("root", {}).get("requires", ()))

    @property
    def root_requires_python(self) -> SpecifierSet:
        text = self.data.get("root", {}).get("requires_python", DEFAULT_ROOT_REQUIRES_PYTHON)
        return SpecifierSet(text or "")

    @property
    def universal(self) -> bool:
        return bool(self.options.get("universal", False))

    @property
    def python(self) -> str:
        """The target Python: ``--python-version`` if given, else the active one."""
        python = self.options.get("python") or self.data.get("environment", {}).get("python")
        return str(python or DEFAULT_PYTHON)

    @property
    def expectation(self) -> Expectation:
        expected = self.data.get("expected", {})
        return Expectation(
            satisfiable=bool(expected["satisfiable"]),
            packages={
                canonicalize_name(name): Version(version)
                for name, version in expected.get("packages", {}).items()
            },
        )

    def unmapped_options(self) -> list[str]:
        return sorted(set(self.options) - KNOWN_OPTIONS)


@dataclass(frozen=True)
class Expectation:
    """What a scenario must resolve to."""

    satisfiable: bool
    packages: Mapping[NormalizedName, Version] = field(default_factory=dict)


def scenarios_root() -> Path:
    """The scenarios directory: ``$BUNDLE_CONFORMANCE_SCENARIOS`` or the bundled copy."""
    env = os.environ.get(SCENARIOS_ENV)
    return Path(env) if env else BUNDLED_SCENARIOS


def load_scenario(path: Path, root: Path) -> Scenario:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    category = path.parent.relative_to(root).as_posix()
    return Scenario(category=category, name=str(data.get("name", path.stem)), path=path, data=data)


def find_scenarios(root: Path | None = None) -> list[Scenario]:
    """Every TOML scenario under ``root``, sorted by id.

    packse also ships JSON and YAML copies of its example; the TOML files
    hold every scenario, so the other formats are not read.
    """
    root = root if root is not None else scenarios_root()
    if not root.is_dir():
        return []
    found = [load_scenario(path, root) for path in sorted(root.rglob("*.toml"))]
    return sorted(found, key=lambda s: s.id)


# --- targets --------------------------------------------------------------------------

# uv's --python-platform names, as wheel platform tags bundler understands.
_UV_PLATFORMS = {
    "linux": "linux",
    "windows": "windows",
    "macos": "macos",
    "x86_64-unknown-linux-gnu": "manylinux_2_28_x86_64",
    "aarch64-unknown-linux-gnu": "manylinux_2_28_aarch64",
    "x86_64-pc-windows-msvc": "win_amd64",
    "aarch64-pc-windows-msvc": "win_arm64",
    "i686-pc-windows-msvc": "win32",
    "x86_64-apple-darwin": "macosx_10_12_x86_64",
    "aarch64-apple-darwin": "macosx_11_0_arm64",
}
_UV_LINUX = re.compile(r"^(\w+?)-((?:manylinux|musllinux)[\w]*)$")


def platform_tag(python_platform: str) -> str:
    """uv's platform name (``x86_64-manylinux2014``) as a wheel platform tag
    (``manylinux2014_x86_64``)."""
    if python_platform in _UV_PLATFORMS:
        return _UV_PLATFORMS[python_platform]
    if m := _UV_LINUX.match(python_platform):
        return f"{m[2]}_{m[1]}"
    raise ValueError(f"python_platform {python_platform!r} has no wheel platform mapping")


def default_platform() -> str:
    """The host's platform tag when the host is Linux x86_64 (as uv's
    scenario tests assume), else a Linux x86_64 stand-in."""
    plats = host_target().platforms
    host = plats[0] if plats else ""
    return host if re.fullmatch(r"manylinux_\d+_\d+_x86_64", host) else FALLBACK_PLATFORM


def scenario_targets(scenario: Scenario) -> list[Target]:
    """The targets a scenario is resolved for."""
    if scenario.universal:
        return universal_targets(scenario)
    python_platform = scenario.options.get("python_platform")
    plat = platform_tag(python_platform) if python_platform else default_platform()
    return [make_target(scenario.python, plat)]


# Marker variables that name a string, with real values to stand for "any
# value the scenario does not mention" (the first one not mentioned is used).
_STRING_VARIABLES: Mapping[str, tuple[str, ...]] = {
    "sys_platform": ("linux", "win32", "darwin"),
    "platform_system": ("Linux", "Windows", "Darwin"),
    "os_name": ("posix", "nt"),
    "platform_machine": ("x86_64", "aarch64", "AMD64", "arm64"),
    "implementation_name": ("cpython", "pypy"),
    "platform_python_implementation": ("CPython", "PyPy"),
    "platform_release": (),
    "platform_version": (),
    "implementation_version": (),
}
_PYTHON_VARIABLES = ("python_version", "python_full_version")
_OPS = r"===|==|!=|<=|>=|~=|<|>|not in|in"
# packaging renders every comparison as `variable op "value"` or `"value" op variable`.
_ATOM = re.compile(rf'(\w+) ({_OPS}) "([^"]*)"|"([^"]*)" ({_OPS}) (\w+)')
_NEWEST_MINOR = 15


@dataclass(frozen=True)
class Atom:
    """One comparison inside a PEP 508 marker."""

    variable: str
    op: str
    value: str
    reversed: bool = False  # written as `"value" op variable`

    def marker(self) -> Marker:
        if self.reversed:
            return Marker(f'"{self.value}" {self.op} {self.variable}')
        return Marker(f'{self.variable} {self.op} "{self.value}"')


def marker_atoms(marker: Marker) -> list[Atom]:
    atoms: list[Atom] = []
    for m in _ATOM.finditer(str(marker)):
        if m[1] is not None:
            atoms.append(Atom(m[1], m[2], m[3]))
        else:
            atoms.append(Atom(m[6], m[5], m[4], reversed=True))
    return atoms


def _scenario_markers(scenario: Scenario) -> list[Marker]:
    texts: list[str] = list(scenario.requires)
    for package in scenario.data.get("packages", {}).values():
        for release in package.get("versions", {}).values():
            texts.extend(release.get("requires", ()))
            for reqs in release.get("extras", {}).values():
                texts.extend(reqs)
    markers = [m for m in (Requirement(t).marker for t in texts) if m is not None]
    markers.extend(Marker(m) for m in scenario.options.get("required_environments", ()))
    return markers


def scenario_atoms(scenario: Scenario) -> list[Atom]:
    """Every comparison in the scenario's markers (requirements, extras,
    required environments)."""
    return [atom for marker in _scenario_markers(scenario) for atom in marker_atoms(marker)]


def _requires_pythons(scenario: Scenario, *, defaults: bool = True) -> list[SpecifierSet]:
    data = with_packse_defaults(scenario.data) if defaults else scenario.data
    found: list[SpecifierSet] = []
    for package in data.get("packages", {}).values():
        for release in package.get("versions", {}).values():
            text = release.get("requires_python")
            if text:
                with contextlib.suppress(InvalidSpecifier):
                    found.append(SpecifierSet(text))
    return found


def _release3(text: str) -> tuple[int, int, int] | None:
    try:
        release = Version(text).release
    except InvalidVersion:
        return None
    padded = (*release, 0, 0)
    return padded[0], padded[1], padded[2]


def python_points(scenario: Scenario, atoms: Sequence[Atom]) -> list[str]:
    """One Python version per region of the Python versions the scenario
    allows (root Requires-Python) that its markers and its packages'
    Requires-Python tell apart; the lowest version of each region."""
    candidates: set[tuple[int, int, int]] = {(3, minor, 0) for minor in range(8, _NEWEST_MINOR + 1)}
    specs = [scenario.root_requires_python, *_requires_pythons(scenario)]
    edges = [s.version for spec in specs for s in spec]
    edges += [
        value
        for atom in atoms
        if atom.variable in _PYTHON_VARIABLES
        for value in atom.value.split()
    ]
    for text in edges:
        if (v := _release3(text.rstrip(".*"))) is None:
            continue
        candidates |= {v, (v[0], v[1], v[2] + 1), (v[0], v[1] + 1, 0)}
    python_atoms = [a for a in atoms if a.variable in _PYTHON_VARIABLES]
    regions: dict[tuple[bool, ...], tuple[int, int, int]] = {}
    for v in sorted(candidates):
        full = ".".join(map(str, v))
        if not scenario.root_requires_python.contains(full, prereleases=True):
            continue
        env = {"python_version": f"{v[0]}.{v[1]}", "python_full_version": full}
        signature = tuple(a.marker().evaluate(env) for a in python_atoms) + tuple(
            spec.contains(full, prereleases=True) for spec in specs[1:]
        )
        regions.setdefault(signature, v)
    return [".".join(map(str, v)) for v in sorted(regions.values())]


def _platform_for(environment: Mapping[str, str]) -> str:
    """A wheel platform whose marker environment is closest to ``environment``."""
    machine = environment.get("platform_machine", "")
    system = environment.get("sys_platform", "linux")
    if system == "win32":
        return "win_arm64" if machine.lower() in ("arm64", "aarch64") else "win_amd64"
    if system == "darwin":
        return "macosx_14_0_x86_64" if machine == "x86_64" else "macosx_14_0_arm64"
    if machine in ("aarch64", "i686", "armv7l", "ppc64le", "s390x"):
        return f"manylinux_2_28_{machine}"
    return default_platform()


def universal_targets(scenario: Scenario) -> list[Target]:
    """One target per environment the scenario's markers tell apart.

    A universal lock must hold on every environment; bundler locks per
    target, so the scenario is resolved on one representative of each
    region of the marker space: every value a marker compares a variable
    with, plus one value it does not mention, for each variable; and the
    Python versions of ``python_points``.  Marker variables are taken as
    independent, as uv's universal resolver takes them.
    """
    atoms = scenario_atoms(scenario)
    axes: list[list[tuple[str, str]]] = []
    for variable, fallbacks in _STRING_VARIABLES.items():
        mentioned = sorted({a.value for a in atoms if a.variable == variable})
        if not mentioned:
            continue
        other = next((f for f in fallbacks if f not in mentioned), "other")
        axes.append([(variable, value) for value in [*mentioned, other]])
    targets: dict[tuple[tuple[str, str], ...], Target] = {}
    for python in python_points(scenario, atoms):
        for combination in itertools.product(*axes):
            overrides = dict(combination)
            base = make_target(python, _platform_for(overrides))
            environment = {**base.environment, **overrides}
            key = tuple(sorted(environment.items()))
            if key in targets:
                continue
            extra = [f"{k}={v}" for k, v in combination if base.environment.get(k) != v]
            name = base.name + (f"[{','.join(extra)}]" if extra else "")
            targets[key] = dataclasses.replace(base, name=name, environment=environment)
    return list(targets.values())


# --- resolution -------------------------------------------------------------------------


def resolve_options(scenario: Scenario) -> ResolveOptions:
    """packse's options as pip's: ``no_build`` is --only-binary, ``no_binary``
    is --no-binary, ``prereleases`` is --pre."""
    options = scenario.options
    policy = BinaryPolicy(
        only_binary=frozenset(_names(options.get("no_build", ()))),
        no_binary=frozenset(_names(options.get("no_binary", ()))),
    )
    return ResolveOptions(
        allow_prereleases=bool(options.get("prereleases", False)),
        policy=policy,
        max_rounds=MAX_ROUNDS,
    )


def _names(values: Iterable[str]) -> list[str]:
    return [v if v == ":all:" else canonicalize_name(v) for v in values]


def with_packse_defaults(data: Mapping[str, Any]) -> dict[str, Any]:
    """The scenario with packse's default Requires-Python filled in on every
    release that names none (packse publishes its packages that way)."""
    filled: dict[str, Any] = copy.deepcopy(dict(data))
    for package in filled.get("packages", {}).values():
        for release in package.get("versions", {}).values():
            release.setdefault("requires_python", DEFAULT_REQUIRES_PYTHON)
    return filled


def build_universe(
    scenario: Scenario, files_dir: Path, *, packse_defaults: bool = True
) -> list[DistSpec]:
    """Build every wheel and sdist of the scenario into ``files_dir``."""
    data = with_packse_defaults(scenario.data) if packse_defaults else scenario.data
    specs = packse_specs(data)
    files_dir.mkdir(parents=True, exist_ok=True)
    build_all(specs, files_dir)
    return specs


@contextlib.contextmanager
def serve_universe(
    scenario: Scenario, workdir: Path, transport: Transport, *, packse_defaults: bool = True
) -> Iterator[str]:
    """Build the scenario's distributions and publish them as an index;
    yields the index URL (``file://.../simple/`` or ``http://127.0.0.1:P/simple/``)."""
    files_dir = workdir / "files"
    specs = build_universe(scenario, files_dir, packse_defaults=packse_defaults)
    yanked = yanked_files(specs)
    if transport == "http":
        with IndexServer(files_dir, IndexConfig(yanked=yanked)) as server:
            yield server.url
    else:
        simple = write_static_index(files_dir, workdir / "simple", yanked=yanked)
        yield simple.resolve().as_uri() + "/"


@dataclass(frozen=True)
class TargetOutcome:
    """What resolving a scenario for one target gave."""

    target: str
    pins: Mapping[NormalizedName, Version] | None = None  # None: no resolution
    error: str = ""
    unsatisfiable: bool = False  # the resolver said so (ResolutionFailed)


def resolve_scenario(
    scenario: Scenario, targets: Sequence[Target], workdir: Path, transport: Transport = "file"
) -> list[TargetOutcome]:
    """Resolve the scenario's root requirements for each target, through
    the real index client."""
    roots = [
        RootRequirement(Requirement(text), f"{scenario.id} [root]", "root")
        for text in scenario.requires
    ]
    options = resolve_options(scenario)
    outcomes: list[TargetOutcome] = []
    with (
        serve_universe(scenario, workdir, transport) as url,
        HttpClient(cache_dir=workdir / "cache") as client,
        PackageIndex(IndexSettings(index_url=url), client) as index,
    ):
        for target in targets:
            try:
                resolution = resolve(roots, [], index, target, options)
            except ResolutionFailed as err:
                # Giving up after max_rounds is no verdict on satisfiability.
                gave_up = err.explanation.startswith("gave up after")
                outcomes.append(
                    TargetOutcome(target.name, error=err.explanation, unsatisfiable=not gave_up)
                )
            except BundlerError as err:
                outcomes.append(TargetOutcome(target.name, error=f"{type(err).__name__}: {err}"))
            else:
                pins = {name: pkg.version for name, pkg in resolution.packages.items()}
                outcomes.append(TargetOutcome(target.name, pins=pins))
    return outcomes


# --- comparison -------------------------------------------------------------------------


def one_line(text: str, limit: int = 300) -> str:
    flat = " ".join(line.strip() for line in text.splitlines() if line.strip())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def format_pins(pins: Mapping[NormalizedName, Version]) -> str:
    return " ".join(f"{name}=={version}" for name, version in sorted(pins.items())) or "(nothing)"


def compare(expectation: Expectation, outcomes: Sequence[TargetOutcome]) -> str | None:
    """None when the outcomes meet the expectation, else a one-line diff."""
    for o in outcomes:
        if o.pins is None and not o.unsatisfiable:
            return f"{o.target}: {one_line(o.error)}"
    if not expectation.satisfiable:
        if any(o.unsatisfiable for o in outcomes):
            return None
        if len(outcomes) == 1:
            return f"expected unsatisfiable, resolved {format_pins(outcomes[0].pins or {})}"
        return f"expected unsatisfiable, every one of {len(outcomes)} targets resolved"
    for o in outcomes:
        if o.pins is None:
            return f"expected satisfiable, {o.target}: {one_line(o.error)}"
    if not expectation.packages:
        return None
    observed: dict[NormalizedName, set[Version]] = defaultdict(set)
    for o in outcomes:
        for name, version in (o.pins or {}).items():
            observed[name].add(version)
    diffs: list[str] = []
    for name in sorted(set(observed) | set(expectation.packages)):
        want = expectation.packages.get(name)
        got = " | ".join(str(v) for v in sorted(observed.get(name, ())))
        if want is None:
            diffs.append(f"{name}: unexpected {got}")
        elif not got:
            diffs.append(f"{name}: expected {want}, missing")
        elif observed[name] != {want}:
            diffs.append(f"{name}: expected {want}, got {got}")
    return "; ".join(diffs) or None


# --- registries ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    """A scenario where pip's semantics differ from uv's expectation: pip's
    observed outcome is what bundler must match."""

    reason: str
    satisfiable: bool
    packages: Mapping[str, str] = field(default_factory=dict)
    # Whether pip_verdict on this machine reproduces the outcome (a universal
    # scenario is checked in this machine's environment only).
    pip_checked: bool = True

    @property
    def expectation(self) -> Expectation:
        return Expectation(
            self.satisfiable,
            {canonicalize_name(n): Version(v) for n, v in self.packages.items()},
        )


# Options bundler deliberately does not offer; scenario id -> one-line reason.
# (Every option the scenarios use is mapped today.)
SKIPS: Mapping[str, str] = {}

_PRE_NO_FINAL = (
    "pip takes a pre-release when no final release satisfies the specifier"
    " (packaging's SpecifierSet.filter); uv wants an explicit opt-in"
)
_PRE_NAMED = (
    "pip allows pre-releases of a project once any requirement on it names one ({});"
    " uv only when the user's own requirement does"
)
_ONE_RESOLUTION = (
    "uv's single universal resolution does not fork on markers of requirements that are"
    " not siblings and gives up; bundler resolves each target on its own and every one"
    " resolves ({})"
)

# Documented differences; scenario id -> the outcome bundler must give and why.
DIFFERENCES: Mapping[str, Difference] = {
    "prereleases/package-only-prereleases-in-range": Difference(
        _PRE_NO_FINAL, True, {"a": "1.0.0a1"}
    ),
    "prereleases/transitive-package-only-prereleases-in-range": Difference(
        _PRE_NO_FINAL, True, {"a": "0.1.0", "b": "1.0.0a1"}
    ),
    "prereleases/transitive-prerelease-and-stable-dependency": Difference(
        _PRE_NAMED.format("a's c==2.0.0b1"), True, {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b1"}
    ),
    "prereleases/transitive-prerelease-and-stable-dependency-many-versions": Difference(
        _PRE_NAMED.format("a's c>=2.0.0b1"), True, {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b9"}
    ),
    "prereleases/transitive-prerelease-and-stable-dependency-many-versions-holes": Difference(
        _PRE_NAMED.format("a's c<2.0.0b5"), True, {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0b4"}
    ),
    "yanked/transitive-yanked-and-unyanked-dependency": Difference(
        "PEP 592 as pip applies it: a yanked release is used when the requirements on it pin"
        " it with == (a's c==2.0.0); uv honours only a pin the user wrote",
        True,
        {"a": "1.0.0", "b": "1.0.0", "c": "2.0.0"},
    ),
    "requires_python/python-less-than-current": Difference(
        "pip enforces a Requires-Python upper bound (<=3.8 excludes Python 3.9); uv ignores it",
        False,
    ),
    "fork/fork-non-local-fork-marker-direct": Difference(
        _ONE_RESOLUTION.format("linux: a==1.0.0 c==1.0.0, darwin: b==1.0.0 c==2.0.0"), True
    ),
    "fork/fork-non-local-fork-marker-transitive": Difference(
        _ONE_RESOLUTION.format("linux: c==1.0.0, darwin: c==2.0.0"), True
    ),
    "fork/preferences-dependent-forking-conflicting": Difference(
        "uv's universal resolution, without a fork on cleaver 1's sys_platform markers,"
        " needs foo==1 and bar==1 together and fails; bundler resolves each target on its"
        " own and every one resolves (linux: cleaver==1.0.0 foo==1.0.0 bar==2.0.0,"
        " others: cleaver==1.0.0 foo==2.0.0 bar==1.0.0)",
        True,
    ),
    "wheels/specific-architecture": Difference(
        "uv's universal lock keeps b, c and d with cp313-only wheels although it covers"
        " Python >=3.12; a per-target lock for Python 3.12 needs an installable file and"
        " there is none (pip --python-version 3.12 agrees; 3.13 installs)",
        False,
        pip_checked=False,
    ),
}


# --- running -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """The verdict on one scenario."""

    scenario: str  # id, "category/name"
    status: Status
    detail: str = ""  # one line: the reason, the diff or the resolver's error
    outcomes: tuple[TargetOutcome, ...] = ()

    @property
    def category(self) -> str:
        return self.scenario.split("/", 1)[0]


def run_scenario(scenario: Scenario, workdir: Path, *, transport: Transport = "file") -> Result:
    """Build, publish and resolve one scenario; compare with its expectation."""
    if (reason := SKIPS.get(scenario.id)) is not None:
        return Result(scenario.id, Status.SKIPPED, reason)
    if unmapped := scenario.unmapped_options():
        return Result(scenario.id, Status.FAILED, f"unmapped resolver options: {unmapped}")
    try:
        targets = scenario_targets(scenario)
    except (BundlerError, ValueError) as err:
        return Result(scenario.id, Status.FAILED, f"no target: {one_line(str(err))}")
    outcomes = resolve_scenario(scenario, targets, workdir, transport)
    difference = DIFFERENCES.get(scenario.id)
    expectation = difference.expectation if difference else scenario.expectation
    mismatch = compare(expectation, outcomes)
    if mismatch is not None:
        if difference is not None:
            mismatch = f"{mismatch} (against pip's documented outcome)"
        return Result(scenario.id, Status.FAILED, mismatch, tuple(outcomes))
    if difference is not None:
        return Result(scenario.id, Status.DOCUMENTED, difference.reason, tuple(outcomes))
    return Result(scenario.id, Status.PASSED, _summary(outcomes), tuple(outcomes))


def _summary(outcomes: Sequence[TargetOutcome]) -> str:
    if len(outcomes) == 1:
        o = outcomes[0]
        return "unsatisfiable" if o.pins is None else format_pins(o.pins)
    failed = sum(1 for o in outcomes if o.pins is None)
    return f"{len(outcomes)} targets, {failed} unsatisfiable"


def run_all(
    scenarios: Iterable[Scenario],
    workdir: Path,
    *,
    transport: Transport = "file",
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    results: list[Result] = []
    for i, scenario in enumerate(scenarios):
        result = run_scenario(scenario, workdir / f"s{i:03d}", transport=transport)
        if on_result is not None:
            on_result(result)
        results.append(result)
    return results


def format_report(results: Sequence[Result]) -> str:
    """A table of counts by category, then every failure and skip."""
    columns = [Status.PASSED, Status.DOCUMENTED, Status.FAILED, Status.SKIPPED]
    counts: dict[str, dict[Status, int]] = defaultdict(lambda: dict.fromkeys(columns, 0))
    for r in results:
        counts[r.category][r.status] += 1
    width = max([len("category"), len("total"), *(len(c) for c in counts)])
    header = f"{'category':<{width}}  " + "  ".join(f"{c.value:>10}" for c in columns)
    lines = [header, "-" * len(header)]
    totals = dict.fromkeys(columns, 0)
    for category in sorted(counts):
        row = counts[category]
        lines.append(f"{category:<{width}}  " + "  ".join(f"{row[c]:>10}" for c in columns))
        for c in columns:
            totals[c] += row[c]
    lines.append("-" * len(header))
    lines.append(f"{'total':<{width}}  " + "  ".join(f"{totals[c]:>10}" for c in columns))
    for status in (Status.FAILED, Status.SKIPPED, Status.DOCUMENTED):
        chosen = [r for r in results if r.status is status]
        if chosen:
            lines += ["", f"{status.value}:"]
            lines += [f"  {r.scenario}: {r.detail}" for r in chosen]
    return "\n".join(lines)


# --- pip as the oracle ----------------------------------------------------------------------


@dataclass(frozen=True)
class PipVerdict:
    """What real pip resolves for a scenario (``--dry-run``)."""

    satisfiable: bool | None  # None: pip cannot answer this scenario
    packages: Mapping[NormalizedName, Version] = field(default_factory=dict)
    note: str = ""
    # False when pip answered for this machine's environment, not the
    # scenario's targets (universal scenarios).
    comparable: bool = True


def _mentions_python(scenario: Scenario) -> bool:
    if _requires_pythons(scenario, defaults=False):
        return True
    if any(a.variable in _PYTHON_VARIABLES for a in scenario_atoms(scenario)):
        return True
    tags = [
        tag
        for package in scenario.data.get("packages", {}).values()
        for release in package.get("versions", {}).values()
        for text in release.get("wheel_tags", ())
        for tag in parse_tag(text)
    ]
    # A CPython-specific wheel (cp312-cp312-..., cp312-abi3-...) depends on the version.
    return any(t.interpreter.startswith("cp") or t.abi.startswith("cp") for t in tags)


def pip_command(scenario: Scenario, index_url: str, report: Path) -> tuple[list[str], str]:
    """``pip install --dry-run`` arguments for the scenario, and a note on
    any restriction pip imposes (foreign Python or platform: wheels only)."""
    args = [
        sys.executable,
        "-m",
        "pip",
        "--isolated",
        "--no-cache-dir",
        "install",
        "--dry-run",
        "--ignore-installed",
        "--quiet",
        "--report",
        str(report),
        "--index-url",
        index_url,
    ]
    options = scenario.options
    if options.get("prereleases"):
        args.append("--pre")
    for name in options.get("no_build", ()):
        args += ["--only-binary", name]
    for name in options.get("no_binary", ()):
        args += ["--no-binary", name]
    notes: list[str] = []
    if scenario.universal:
        # pip resolves for one environment: this machine's.
        notes.append("this machine's environment only")
    foreign: list[str] = []
    host = host_target()
    wanted = Version(scenario.python).release
    if (
        _mentions_python(scenario)
        # "3.11" is any 3.11: the running interpreter will do.
        and host.python_version.release[: len(wanted)] != wanted
    ):
        foreign += ["--python-version", scenario.python]
    if options.get("python_platform"):
        foreign += ["--platform", platform_tag(options["python_platform"])]
    if foreign:
        # pip only evaluates wheels for a foreign interpreter or platform.
        args += [*foreign, "--only-binary=:all:"]
        notes.append("wheels only (" + " ".join(foreign) + ")")
    args += list(scenario.requires)
    return args, "; ".join(notes)


def pip_verdict(scenario: Scenario, workdir: Path) -> PipVerdict:
    """Run real pip, isolated from the machine's configuration, against the
    scenario's index and report what it would install."""
    report = workdir / "pip-report.json"
    # Without packse's default Requires-Python >=3.12, pip on any interpreter
    # can answer (with sdists); the default changes no outcome for a 3.12
    # target: only the scenarios that name their own Requires-Python need
    # pip's --python-version, which then allows wheels only.
    with serve_universe(scenario, workdir, "file", packse_defaults=False) as url:
        args, note = pip_command(scenario, url, report)
        proc = subprocess.run(
            args, capture_output=True, text=True, env=clean_pip_env(), check=False, timeout=300
        )
    if proc.returncode != 0:
        last = [line for line in proc.stderr.splitlines() if line.strip()][-1:]
        return PipVerdict(
            False, note=" ".join([note, *last]).strip(), comparable=not scenario.universal
        )
    data = json.loads(report.read_text(encoding="utf-8"))
    packages = {
        canonicalize_name(item["metadata"]["name"]): Version(item["metadata"]["version"])
        for item in data.get("install", [])
    }
    return PipVerdict(True, packages, note, comparable=not scenario.universal)


def pip_agrees(verdict: PipVerdict, result: Result) -> bool | None:
    """Whether pip's outcome is bundler's (one target only; None: cannot tell)."""
    if verdict.satisfiable is None or not verdict.comparable or len(result.outcomes) != 1:
        return None
    outcome = result.outcomes[0]
    if not verdict.satisfiable:
        return outcome.pins is None
    return outcome.pins is not None and dict(outcome.pins) == dict(verdict.packages)


__all__ = [
    "DIFFERENCES",
    "SKIPS",
    "Difference",
    "Expectation",
    "PipVerdict",
    "Result",
    "Scenario",
    "Status",
    "TargetOutcome",
    "Transport",
    "compare",
    "find_scenarios",
    "format_report",
    "pip_agrees",
    "pip_verdict",
    "platform_tag",
    "python_points",
    "resolve_scenario",
    "run_all",
    "run_scenario",
    "scenario_atoms",
    "scenario_targets",
    "universal_targets",
]
