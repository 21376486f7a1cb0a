"""The ``bundle`` command (and ``python -m bundler``): start-up, then ``cli``.

This module imports nothing heavy, so that two things happen before the
rest of bundler is imported (about 70 ms of the interpreter's time):

- the cyclic garbage collector is switched off: importing makes tens of
  thousands of objects and no garbage, and the collector would walk them
  all several times over (``bundler.cli.process.tune_collector`` freezes
  them and switches it on for the run);
- a command that will go to the network starts loading the TLS trust store
  in a thread (about 20 ms, in OpenSSL, while the interpreter imports), so
  that the first connection does not wait for it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Sequence

__all__ = [
    "main",
]

# The commands that make HTTPS requests, unless told ``--offline``.
NETWORK_COMMANDS = frozenset({"lock", "download", "build"})


def goes_online(argv: Sequence[str]) -> bool:
    """Whether the command line runs a networked command (a cheap look: the
    first word that is not an option; a guess that is wrong costs nothing
    but a thread's work)."""
    command = next((a for a in argv if not a.startswith("-")), None)
    return command in NETWORK_COMMANDS and "--offline" not in argv


def option_value(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name VALUE`` or ``--name=VALUE`` (the last one), a
    cheap look as ``goes_online``'s."""
    found = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            found = argv[i + 1]
        elif arg.startswith(f"{name}="):
            found = arg.partition("=")[2]
    return found


def main() -> None:
    gc.disable()
    argv = sys.argv[1:]
    if goes_online(argv):
        from bundler.index.trust import TlsOptions, preload_trust_store

        preload_trust_store(
            TlsOptions(option_value(argv, "--cert"), option_value(argv, "--client-cert"))
        )
    from bundler.cli.main import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
