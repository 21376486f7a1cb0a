"""The public API: each command a plain function composing the stages,
against an index on loopback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bundler import api
from bundler.gate.verify import VerifyOptions
from bundler.index.settings import ClientSettings, IndexOverrides, make_client
from bundler.lock.files import write_lock
from bundler.lock.inputs import LockOptions, read_requirements
from bundler.models import IndexSettings
from bundler.spec.target import host_target
from tests.support import DistSpec, IndexServerFactory

SPECS = [
    DistSpec("app", "1.0", requires=("lib>=1",)),
    DistSpec("lib", "1.0"),
    DistSpec("lib", "2.0"),
]
NO_INSTALL = VerifyOptions(live=False)

IMPORT_PROBE = (
    "import sys\n"
    "import bundler.api\n"
    "stages = ('bundler.lock', 'bundler.bundle', 'bundler.gate', 'bundler.index',\n"
    "          'bundler.resolve', 'bundler.publish', 'bundler.serve', 'bundler.cli')\n"
    "print(sorted(m for m in sys.modules if m.startswith(stages)))\n"
)


def test_importing_the_api_loads_no_stage() -> None:
    done = subprocess.run(
        [sys.executable, "-c", IMPORT_PROBE], capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_build_locks_downloads_and_passes_the_gate(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(SPECS)
    (tmp_path / "requirements.in").write_text("app\n")
    reqs = read_requirements([tmp_path / "requirements.in"])
    indexes = IndexSettings(index_url=str(server.url))
    bundle = tmp_path / "pypi"
    with make_client(ClientSettings(cache_dir=tmp_path / "cache")) as client:
        manifest, report = api.build(
            reqs, [host_target()], indexes, LockOptions(), bundle, client, NO_INSTALL
        )
        assert report.ok
        assert sorted((a.project, a.version) for a in manifest.artifacts) == [
            ("app", "1.0"),
            ("lib", "2.0"),
        ]
        assert api.verify(bundle, [host_target()], client, NO_INSTALL).ok


def test_download_makes_the_bundle_of_a_requirements_lock(
    tmp_path: Path, index_server: IndexServerFactory
) -> None:
    server = index_server(SPECS)
    (tmp_path / "requirements.in").write_text("app\nlib<2\n")
    reqs = read_requirements([tmp_path / "requirements.in"])
    indexes = IndexSettings(index_url=str(server.url))
    lock_path = tmp_path / "requirements.txt"
    with make_client(ClientSettings(cache_dir=tmp_path / "cache")) as client:
        locked = api.lock(reqs, [host_target()], indexes, LockOptions(), client)
        write_lock(locked, lock_path, "bundle lock requirements.in")
        # A requirements lock names no URLs: the files come from the pages.
        overrides = IndexOverrides(index_url=str(server.url))
        manifest = api.download(lock_path, tmp_path / "pypi", [host_target()], overrides, client)
    assert sorted((a.project, a.version) for a in manifest.artifacts) == [
        ("app", "1.0"),
        ("lib", "1.0"),
    ]
    assert (tmp_path / "pypi" / "bundle.json").is_file()
