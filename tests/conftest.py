"""Fixtures shared by every test: built distributions and local indexes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import DistFactory, IndexServerFactory
from tests.support.distbuilder import DistSpec, build_all, yanked_files
from tests.support.indexserver import IndexConfig, IndexServer

# The fixtures' types are re-exported here too; tests.support is their home.
__all__ = ["DistFactory", "IndexServerFactory"]


@pytest.fixture(autouse=True)
def _private_bundler_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every test gets its own cache: none reads or fills the user's."""
    monkeypatch.setenv("BUNDLER_CACHE_DIR", str(tmp_path_factory.mktemp("bundler-cache")))


# What a developer's or CI machine may set that bundler reads (the indexes
# pip-compile would use, the CA bundles pip and requests trust): a test sets
# the ones it is about itself.
HOST_SETTINGS = (
    "PIP_INDEX_URL",
    "PIP_EXTRA_INDEX_URL",
    "PIP_FIND_LINKS",
    "PIP_CERT",
    "PIP_CLIENT_CERT",
    "PIP_KEYRING_PROVIDER",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
)


@pytest.fixture(autouse=True)
def _no_host_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run alike whatever the machine's pip and TLS settings."""
    for name in HOST_SETTINGS:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def dist_factory(tmp_path_factory: pytest.TempPathFactory) -> DistFactory:
    """``dist_factory(specs) -> directory`` holding every file the specs build."""

    def build(specs: Iterable[DistSpec]) -> Path:
        out_dir = tmp_path_factory.mktemp("dists")
        build_all(specs, out_dir)
        return out_dir

    return build


@pytest.fixture
def index_server(dist_factory: DistFactory) -> Iterator[IndexServerFactory]:
    """``index_server(specs, **IndexConfig fields) -> running IndexServer``.

    The server has ``.url`` (``http://127.0.0.1:PORT/simple/``), ``.files_dir``
    and ``.log``; yanked specs are yanked on its pages.  Stopped after the test.
    """
    servers: list[IndexServer] = []

    def start(specs: Iterable[DistSpec], **options: Any) -> IndexServer:
        specs = list(specs)
        config = IndexConfig(**options)
        config.yanked = {**yanked_files(specs), **config.yanked}
        server = IndexServer(dist_factory(specs), config).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
