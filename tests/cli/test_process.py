"""Process-wide tuning belongs to the ``bundle`` command alone: a program
that imports bundler (or calls ``run``) keeps its own socket resolver and
garbage collector."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

from bundler.cli.process import Process

REPO = Path(__file__).resolve().parents[2]


def _resolver_after(keep_alive: list[object] | None, offline: bool) -> object:
    from bundler.cli.options import merge_config, read_config
    from bundler.cli.parser import build_parser
    from bundler.cli.settings import make_client
    from bundler.reporting import NULL_REPORTER

    args = build_parser().parse_args(["lock", "-", *(["--offline"] if offline else [])])
    args = merge_config(args, read_config(args))
    Process.keep_alive = keep_alive
    try:
        client = make_client(args, NULL_REPORTER)
        client.close()
    finally:
        Process.keep_alive = None
        Process.clients = []
    return socket.getaddrinfo


def test_the_command_s_own_process_caches_name_lookups(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(socket, "getaddrinfo", socket.getaddrinfo)  # undone afterwards
    from bundler.index.transport import _ResolverCache

    assert isinstance(_resolver_after([], offline=False), _ResolverCache)


@pytest.mark.parametrize("keep_alive, offline", [(None, False), ([], True)])
def test_a_library_run_or_an_offline_one_leaves_the_resolver_alone(
    monkeypatch: pytest.MonkeyPatch, keep_alive: list[object] | None, offline: bool
) -> None:
    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", real)
    assert _resolver_after(keep_alive, offline) is real


def test_importing_the_api_tunes_nothing(tmp_path: Path) -> None:
    code = (
        "import gc, socket; real = socket.getaddrinfo\n"
        "import bundler.api, bundler.index.client, bundler.gate.verify\n"
        "assert gc.isenabled(), 'gc switched off'\n"
        "assert socket.getaddrinfo is real, 'resolver replaced'\n"
        "import sys; assert not [m for m in sys.modules if m.startswith('bundler.cli')]\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=False
    )
    assert out.stdout.strip() == "ok", out.stderr
