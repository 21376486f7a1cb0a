"""What pip, and the backends it runs, may see of this machine.

Every ``PIP_*`` variable and proxy is removed from their environment and
configuration files are switched off (``PIP_CONFIG_FILE`` set to
``os.devnull`` also silences the global file that ``--isolated`` still
reads); where the kernel allows it, they run in a fresh network namespace
with no route anywhere.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["PROBE_TIMEOUT", "NetworkIsolation", "detect_network_isolation", "scrubbed_environ"]

# Seconds a probe of the machine (unshare, an interpreter, its pip) may take.
PROBE_TIMEOUT = 30.0

# Variables that would let pip, or the Python running it, see more than the
# bundle: proxies (a route out) and Python's own import path settings.
_DROPPED = frozenset(
    {
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "all_proxy",
        "no_proxy",
        "pythonpath",
        "pythonhome",
        "pythonuserbase",
        "pythonstartup",
        "pythonsafepath",
        "virtual_env",
        "conda_prefix",
    }
)


def scrubbed_environ(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``environ`` (default ``os.environ``) that gives pip no
    configuration and no way out: no ``PIP_*``, no proxies, no config files."""
    source = os.environ if environ is None else environ
    env = {
        key: value
        for key, value in source.items()
        if not key.upper().startswith("PIP_") and key.lower() not in _DROPPED
    }
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_NO_INPUT"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    return env


@dataclass(frozen=True)
class NetworkIsolation:
    """How (or whether) a subprocess can be cut off from every network."""

    prefix: tuple[str, ...]  # command prefix; empty when unavailable
    reason: str  # how it is done, or why it cannot be

    @property
    def available(self) -> bool:
        return bool(self.prefix)

    def describe(self) -> str:
        if self.available:
            return "network: isolated (network namespace)"
        return f"network: NOT isolated ({self.reason})"


@functools.cache
def detect_network_isolation() -> NetworkIsolation:
    """Probe once whether ``unshare`` can give a process a fresh network
    namespace: directly (root) or inside a new user namespace."""
    unshare = shutil.which("unshare")
    if unshare is None:
        return NetworkIsolation((), "unshare(1) not found")
    attempts = [(unshare, "--net"), (unshare, "--map-root-user", "--net")]
    if hasattr(os, "geteuid") and os.geteuid() != 0:
        attempts.reverse()
    failures: list[str] = []
    for prefix in attempts:
        try:
            proc = subprocess.run(
                [*prefix, "true"],
                capture_output=True,
                text=True,
                timeout=PROBE_TIMEOUT,
                check=False,
                stdin=subprocess.DEVNULL,
            )
        except (OSError, subprocess.SubprocessError) as err:
            failures.append(f"{shlex.join(prefix[1:])}: {err}")
            continue
        if proc.returncode == 0:
            return NetworkIsolation(prefix, "network namespace")
        last = (proc.stderr.strip().splitlines() or [f"exit {proc.returncode}"])[-1]
        failures.append(f"unshare {shlex.join(prefix[1:])}: {last}")
    return NetworkIsolation((), "; ".join(failures))
