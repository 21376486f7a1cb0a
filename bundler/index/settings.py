"""How to reach indexes: the HTTP client's settings and the index options
given on the command line, applied over those a requirements file gives."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

from bundler.index.client import HttpClient
from bundler.index.fetchahead import AHEAD_LIMIT
from bundler.index.trust import DEFAULT_TLS, TlsOptions
from bundler.models import IndexSettings, IndexStrategy, NamedIndex
from bundler.reporting import NULL_REPORTER, Reporter

__all__ = [
    "ClientSettings",
    "IndexOverrides",
    "default_cache_dir",
    "hash_matched",
    "make_client",
]


@dataclass(frozen=True)
class ClientSettings:
    """How to talk to indexes."""

    cache_dir: Path | None = None
    offline: bool = False
    workers: int = 8
    # Seconds a cached project page is re-used without asking the index;
    # None: the client's default.  0 when upgrading: always ask.
    page_max_age: float | None = None
    tls: TlsOptions = DEFAULT_TLS
    # pip's --keyring-provider: "disabled", "subprocess" or "auto".
    keyring_provider: str = "disabled"


@dataclass(frozen=True)
class IndexOverrides:
    """Index options given on the command line (they win over files)."""

    index_url: str | None = None
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    named_indexes: tuple[NamedIndex, ...] = ()
    index_strategy: IndexStrategy | None = None

    def apply(self, base: IndexSettings) -> IndexSettings:
        index_url = base.index_url
        if self.index_url is not None:
            index_url = self.index_url
        if self.no_index:
            index_url = None
        return IndexSettings(
            index_url=index_url,
            extra_index_urls=tuple(dict.fromkeys(base.extra_index_urls + self.extra_index_urls))
            if not self.no_index
            else (),
            find_links=tuple(dict.fromkeys(base.find_links + self.find_links)),
            named_indexes=() if self.no_index else (self.named_indexes or base.named_indexes),
            index_strategy=self.index_strategy or base.index_strategy,
        )


def default_cache_dir() -> Path:
    env = os.environ.get("BUNDLER_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "bundler"


def make_client(settings: ClientSettings, reporter: Reporter = NULL_REPORTER) -> HttpClient:
    keyring = None
    if settings.keyring_provider != "disabled":
        from bundler.index.keyringcli import find_keyring

        keyring = find_keyring(settings.keyring_provider)
    client = HttpClient(
        cache_dir=settings.cache_dir or default_cache_dir(),
        offline=settings.offline,
        # A connection kept per request at once: the pools --workers sizes
        # and, beside them, the fetch-ahead's look-ups.
        pool_size=max(settings.workers, 10) + AHEAD_LIMIT,
        reporter=reporter,
        tls=settings.tls,
        keyring=keyring,
    )
    if settings.page_max_age is not None:
        client.page_max_age = settings.page_max_age
    return client


def hash_matched(indexes: IndexSettings) -> IndexSettings:
    """Sources for fetching locked files: every file is matched by its
    locked sha256, so a project listed by several sources is harmless here
    (owned projects still come from their owner only)."""
    if indexes.index_strategy is IndexStrategy.UNIQUE:
        return dataclasses.replace(indexes, index_strategy=IndexStrategy.UNSAFE_BEST_MATCH)
    return indexes
