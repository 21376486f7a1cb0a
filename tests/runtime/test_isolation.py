"""The environment and network namespace pip runs in."""

from __future__ import annotations

import os

from bundler.runtime.isolation import NetworkIsolation, scrubbed_environ


def test_scrubbed_environ_drops_pip_settings_proxies_and_import_paths() -> None:
    env = scrubbed_environ(
        {
            "PATH": "/usr/bin",
            "HOME": "/home/me",
            "PIP_FIND_LINKS": "/opt/wheels",
            "PIP_EXTRA_INDEX_URL": "https://example.com/simple",
            "pip_index_url": "https://example.com/simple",
            "PIP_CONFIG_FILE": "/etc/pip.conf",
            "HTTPS_PROXY": "http://proxy:3128",
            "http_proxy": "http://proxy:3128",
            "NO_PROXY": "localhost",
            "PYTHONPATH": "/elsewhere",
        }
    )
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/me",
        "PIP_CONFIG_FILE": os.devnull,
        "PIP_NO_INPUT": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PYTHONNOUSERSITE": "1",
    }


def test_network_isolation_describes_itself() -> None:
    assert NetworkIsolation(("unshare", "--net"), "x").describe() == (
        "network: isolated (network namespace)"
    )
    off = NetworkIsolation((), "unshare(1) not found")
    assert not off.available
    assert off.describe() == "network: NOT isolated (unshare(1) not found)"
