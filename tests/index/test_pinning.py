"""Index pinning: a private name can never be shadowed by a public upload
(dependency confusion, CVE-2018-20225), against two indexes on 127.0.0.1."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

from bundler import api as app
from bundler.bundle.build import download
from bundler.cli.config import load_config, owned_pattern, parse_config
from bundler.errors import InputFileError, MultipleErrors, UsageError
from bundler.index.client import HttpClient
from bundler.index.collector import PackageIndex
from bundler.index.sources import IndexConflict, owner_rank
from bundler.lock.inputs import LockOptions, read_requirements
from bundler.models import IndexSettings, IndexStrategy, NamedIndex
from bundler.reporting import Reporter
from bundler.resolve.resolver import ResolveOptions, RootRequirement, resolve
from bundler.spec.lockfile import render_requirements_lock
from bundler.spec.target import host_target
from tests.support import DistSpec, IndexServer, IndexServerFactory, build_wheel

ACME: NormalizedName = canonicalize_name("acme-utils")
SECRET = "s3cr3t-token"

PRIVATE = [DistSpec("acme-utils", "1.0", requires=("six>=1",)), DistSpec("acme-web", "2.0")]
PUBLIC = [
    DistSpec("acme-utils", "99.0"),  # the squatter
    DistSpec("acme-web", "2.1"),
    DistSpec("six", "1.16.0"),
]


class Recorder(Reporter):
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.warnings: list[str] = []

    def warning(self, message: str) -> None:
        with self._lock:
            self.warnings.append(message)


@pytest.fixture
def internal(index_server: IndexServerFactory) -> IndexServer:
    return index_server(PRIVATE, auth=("ci", SECRET))


@pytest.fixture
def public(index_server: IndexServerFactory) -> IndexServer:
    return index_server(PUBLIC)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[HttpClient]:
    with HttpClient(cache_dir=tmp_path / "cache") as c:
        yield c


def settings(
    internal: IndexServer,
    public: IndexServer,
    *,
    owns: tuple[str, ...] = (),
    strategy: IndexStrategy = IndexStrategy.UNIQUE,
    public_first: bool = False,
) -> IndexSettings:
    named = [
        NamedIndex("internal", internal.url_with_auth(), owns),
        NamedIndex("pypi", public.url),
    ]
    if public_first:
        named.reverse()
    # index_url=None: nothing but the two local servers is ever asked.
    return IndexSettings(index_url=None, named_indexes=tuple(named), index_strategy=strategy)


def resolved(index: PackageIndex, *requirements: str) -> dict[str, str]:
    roots = [RootRequirement(Requirement(r), "test", "-r test") for r in requirements]
    res = resolve(roots, [], index, host_target(), ResolveOptions())
    return {name: str(p.version) for name, p in res.packages.items()}


def page_hits(server: IndexServer, name: str) -> int:
    return server.hits(f"/simple/{name}/")


# --- the confusion scenario ----------------------------------------------------------


def test_an_owned_package_comes_only_from_its_index_and_the_shadow_is_reported(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    reporter = Recorder()
    with PackageIndex(settings(internal, public, owns=("acme-*",)), client, reporter) as index:
        assert index.owner_of(ACME) == "internal"
        page = index.get_project(ACME)
        assert {str(f.version) for f in page.files} == {"1.0"}
        assert {f.index for f in page.files} == {"internal"}
        assert page.source == "internal"
        # Unowned dependencies still come from wherever they are (one source).
        assert resolved(index, "acme-utils") == {"acme-utils": "1.0", "six": "1.16.0"}
        index.get_project(ACME)
        index.prefetch([ACME])
    shadow = [w for w in reporter.warnings if w.startswith("acme-utils ")]
    assert len(shadow) == 1, reporter.warnings  # once per name
    assert "'pypi'" in shadow[0] and "'internal'" in shadow[0]
    assert SECRET not in "".join(reporter.warnings)
    # The public page was read only to warn, never for files.
    assert page_hits(public, "acme-utils") == 1


def test_an_unowned_package_on_two_indexes_is_an_error_naming_both_and_the_fix(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    with (
        PackageIndex(settings(internal, public), client) as index,
        pytest.raises(IndexConflict) as caught,
    ):
        resolved(index, "acme-utils")
    err = caught.value
    assert isinstance(err, UsageError) and err.exit_code == 2
    assert err.project == "acme-utils"
    assert err.sources == ("internal", "pypi")
    text = str(err)
    assert "'internal'" in text and "'pypi'" in text
    assert 'packages = ["acme-utils"]' in text
    assert "index-strategy" in text
    assert SECRET not in text


def test_first_index_takes_the_first_index_listing_the_project(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    first = settings(internal, public, strategy=IndexStrategy.FIRST_INDEX)
    with PackageIndex(first, client) as index:
        assert resolved(index, "acme-utils")["acme-utils"] == "1.0"
        assert index.get_project(ACME).source == "internal"
    # The later index was never asked for a project the first one has.
    assert page_hits(public, "acme-utils") == 0
    assert page_hits(public, "six") == 1  # ...but is for one it lacks

    reversed_order = settings(
        internal, public, strategy=IndexStrategy.FIRST_INDEX, public_first=True
    )
    with PackageIndex(reversed_order, client) as index:
        assert resolved(index, "acme-utils")["acme-utils"] == "99.0"


def test_unsafe_best_match_merges_like_pip_and_the_squatter_wins(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    merged = settings(internal, public, strategy=IndexStrategy.UNSAFE_BEST_MATCH)
    with PackageIndex(merged, client) as index:
        page = index.get_project(ACME)
        assert sorted({(str(f.version), f.index) for f in page.files}) == [
            ("1.0", "internal"),
            ("99.0", "pypi"),
        ]
        assert resolved(index, "acme-utils")["acme-utils"] == "99.0"


def test_an_owner_protects_its_names_under_every_strategy(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    for strategy in IndexStrategy:
        pinned = settings(internal, public, owns=("acme-utils",), strategy=strategy)
        with PackageIndex(pinned, client) as index:
            assert resolved(index, "acme-utils")["acme-utils"] == "1.0", strategy


def test_an_exact_name_beats_a_prefix_owned_elsewhere(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    both = IndexSettings(
        index_url=None,
        named_indexes=(
            # Patterns given directly are normalized like configured ones.
            NamedIndex("internal", internal.url_with_auth(), ("Acme_*",)),
            NamedIndex("pypi", public.url, ("Acme.Web",)),
        ),
    )
    with PackageIndex(both, client) as index:
        assert index.owner_of(canonicalize_name("acme-web")) == "pypi"
        assert index.owner_of(ACME) == "internal"
        assert index.owner_of(canonicalize_name("six")) is None
        got = resolved(index, "acme-web", "acme-utils")
    assert got["acme-web"] == "2.1"
    assert got["acme-utils"] == "1.0"


def test_owner_rank() -> None:
    assert owner_rank(["acme-*"], canonicalize_name("acme-utils")) == 5
    assert owner_rank(["acme-*", "acme-utils"], canonicalize_name("acme-utils")) == 1 << 30
    assert owner_rank(["*"], canonicalize_name("anything")) == 0
    assert owner_rank(["acme-*"], canonicalize_name("acmeutils")) is None
    assert owner_rank([], canonicalize_name("acme")) is None


def test_find_links_are_sources_too(
    public: IndexServer, client: HttpClient, tmp_path: Path
) -> None:
    wheels = tmp_path / "wheels"
    build_wheel(DistSpec("acme-utils", "1.0"), "py3-none-any", wheels)
    unnamed = IndexSettings(index_url=public.url, find_links=(str(wheels),))
    with PackageIndex(unnamed, client) as index, pytest.raises(IndexConflict) as caught:
        index.get_project(ACME)
    # Unnamed sources are named by their location (never with credentials).
    assert caught.value.sources == (public.url, str(wheels))

    flat = IndexSettings(
        index_url=public.url,
        named_indexes=(NamedIndex("ours", str(wheels), ("acme-utils",), flat=True),),
    )
    with PackageIndex(flat, client) as index:
        page = index.get_project(ACME)
    assert [(f.filename, f.index) for f in page.files] == [
        ("acme_utils-1.0-py3-none-any.whl", "ours")
    ]


def test_unnamed_indexes_are_named_by_their_url_without_credentials(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    unnamed = IndexSettings(index_url=internal.url_with_auth(), extra_index_urls=(public.url,))
    with PackageIndex(unnamed, client) as index:
        assert index.source_names == (internal.url, public.url)
        six = index.get_project(canonicalize_name("six"))
        assert {f.index for f in six.files} == {public.url}
        with pytest.raises(IndexConflict) as caught:
            index.get_project(ACME)
    assert SECRET not in str(caught.value)
    assert internal.url in str(caught.value)


def test_a_location_configured_twice_is_one_source(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    # The default index given again as a named one: the name wins, no conflict.
    twice = IndexSettings(
        index_url=public.url, named_indexes=(NamedIndex("pypi", public.url.rstrip("/")),)
    )
    with PackageIndex(twice, client) as index:
        assert index.source_names == ("pypi",)
        assert {f.index for f in index.get_project(ACME).files} == {"pypi"}


def test_two_owners_of_one_name_or_two_sources_of_one_name_are_refused(
    internal: IndexServer, public: IndexServer, client: HttpClient
) -> None:
    owners = IndexSettings(
        index_url=None,
        named_indexes=(
            NamedIndex("a", internal.url, ("acme-utils",)),
            NamedIndex("b", public.url, ("acme-utils",)),
        ),
    )
    with pytest.raises(UsageError, match="owned by two indexes"):
        PackageIndex(owners, client)
    names = IndexSettings(
        index_url=None,
        named_indexes=(NamedIndex("a", internal.url), NamedIndex("a", public.url)),
    )
    with pytest.raises(UsageError, match="two package sources are named 'a'"):
        PackageIndex(names, client)


# --- what the lock and the bundle record ----------------------------------------------


def test_lock_and_manifest_record_index_names_never_credentials(
    internal: IndexServer, public: IndexServer, client: HttpClient, tmp_path: Path
) -> None:
    requirements = tmp_path / "requirements.in"
    requirements.write_text("acme-utils\n")
    reqs = read_requirements([requirements])
    indexes = settings(internal, public, owns=("acme-*",))
    reporter = Recorder()
    lock = app.lock(reqs, [host_target()], indexes, LockOptions(), client, reporter)
    by_name = {p.name: p for p in lock.packages}
    assert str(by_name[ACME].version) == "1.0"
    assert {f.index for f in by_name[ACME].files} == {"internal"}
    assert {f.index for f in by_name[canonicalize_name("six")].files} == {"pypi"}
    assert any("'pypi'" in w for w in reporter.warnings)
    text = render_requirements_lock(lock, command="bundle lock requirements.in")
    assert "acme-utils==1.0" in text
    assert SECRET not in text

    bundle = tmp_path / "pypi"
    download(lock, bundle, indexes, client, reporter)
    manifest = json.loads((bundle / "bundle.json").read_text())
    origins = {a["project"]: a["origin"] for a in manifest["artifacts"]}
    assert origins == {"acme-utils": "internal", "six": "pypi"}
    for path in bundle.rglob("*"):
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), path
    assert SECRET not in repr(indexes)


# --- configuration -----------------------------------------------------------------------

GOOD = """
index-strategy = "first-index"

[[index]]
name = "internal"
url = "https://ci:token@pypi.internal.example/simple/"
packages = ["Acme_Utils", "ACME.*", "tool"]

[[index]]
name = "pypi"
url = "https://pypi.org/simple/"

[[index]]
name = "wheels"
url = "./wheels"
format = "flat"
"""


def test_index_tables_are_read_and_normalized(tmp_path: Path) -> None:
    path = tmp_path / "bundle.toml"
    path.write_text(GOOD)
    config = load_config(path)
    assert config.index_strategy is IndexStrategy.FIRST_INDEX
    assert [(i.name, i.packages, i.flat) for i in config.indexes] == [
        ("internal", ("acme-utils", "acme-*", "tool"), False),
        ("pypi", (), False),
        ("wheels", (), True),
    ]
    assert config.indexes[0].url == "https://ci:token@pypi.internal.example/simple/"
    assert "token" not in repr(config)


def test_index_tables_in_pyproject(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text(
        '[tool.bundle]\nindex-strategy = "unique"\n\n'
        '[[tool.bundle.index]]\nname = "internal"\nurl = "https://x.example/simple/"\n'
        'packages = ["acme-*"]\n\n'
        '[[tool.bundle.index]]\nname = "pypi"\nurl = "ftp://pypi.org/simple/"\n'
    )
    with pytest.raises(InputFileError) as caught:
        load_config(path)
    assert str(caught.value).startswith(f"{path}: tool.bundle.index[1].url must be")


def test_config_defaults_leave_indexes_unset() -> None:
    config = parse_config({}, "bundle.toml")
    assert config.indexes == ()
    assert config.index_strategy is None
    assert config.page_max_age is None
    assert IndexSettings().index_strategy is IndexStrategy.UNIQUE
    assert parse_config({"page-max-age": 0}, "bundle.toml").page_max_age == 0.0
    assert parse_config({"page-max-age": 90.5}, "bundle.toml").page_max_age == 90.5


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"index-strategy": "best"}, "index-strategy must be one of 'unique', 'first-index'"),
        ({"index-strategy": 1}, "index-strategy must be one of"),
        ({"index": {"name": "a", "url": "https://a/"}}, "index must be an array of tables"),
        ({"index": [{"url": "https://a/"}]}, "index[0].name must be a name of letters"),
        ({"index": [{"name": "a b", "url": "https://a/"}]}, "(got 'a b')"),
        ({"index": [{"name": "a"}]}, "index[0].url must be a string (missing)"),
        ({"index": [{"name": "a", "url": "pypi.org"}]}, "index[0].url must be an http"),
        ({"index": [{"name": "a", "url": "https://a/", "priority": 1}]}, "index[0].priority"),
        ({"index": [{"name": "a", "url": "https://a/", "packages": "x"}]}, "must be a list"),
        ({"index": [{"name": "a", "url": "https://a/", "packages": ["a b"]}]}, "'a b' is not"),
        ({"index": [{"name": "a", "url": "https://a/", "format": "zip"}]}, "format must be"),
        ({"page-max-age": -1}, "page-max-age must be a number of seconds"),
        ({"page-max-age": "10m"}, "page-max-age must be a number of seconds"),
        ({"page-max-age": True}, "page-max-age must be a number of seconds"),
    ],
)
def test_config_validation_names_file_and_key(table: dict[str, object], message: str) -> None:
    with pytest.raises(InputFileError) as caught:
        parse_config(table, "bundle.toml")
    assert str(caught.value).startswith("bundle.toml: ")
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_config_problems_are_collected() -> None:
    table = {
        "index-strategy": "pip",
        "index": [
            {"name": "internal", "url": "https://a/simple/", "packages": ["acme-utils"]},
            {"name": "Internal", "url": "https://b/simple/", "packages": ["acme_utils"]},
        ],
    }
    with pytest.raises(MultipleErrors) as caught:
        parse_config(table, "bundle.toml")
    text = str(caught.value)
    assert "index[1].name: 'Internal' is already the name of index[0]" in text
    assert "index[1].packages: 'acme-utils' is already owned by index[0] ('internal')" in text
    assert "index-strategy must be one of" in text
    assert caught.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Acme_Utils", "acme-utils"),
        ("acme-*", "acme-*"),
        ("ACME__x.*", "acme-x-*"),
        ("*", "*"),
        ("acme*", "acme*"),
        ("-acme", None),
        ("ac me", None),
        ("acme-*-x", None),
        ("", None),
    ],
)
def test_owned_pattern(text: str, expected: str | None) -> None:
    assert owned_pattern(text) == expected


def test_one_index_without_configuration_behaves_as_before(
    public: IndexServer, client: HttpClient
) -> None:
    """The common case, one index and no configuration, behaves as before."""
    with PackageIndex(IndexSettings(index_url=public.url), client) as index:
        page = index.get_project(ACME)
    assert [str(f.version) for f in page.files] == ["99.0", "99.0"]
    assert page.source == public.url
    assert {f.index for f in page.files} == {public.url}
    assert Version("99.0") in {f.version for f in page.files}
