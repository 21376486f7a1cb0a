"""The ``bundle`` command line: the one place that prints and exits.

``run`` parses, merges the configuration file, calls the command's handler
and maps every error to a message and an exit code.  Each command module
imports what only it needs where it is used, so that a lock from a warm
cache does not pay for the whole tool at start-up.
"""

from __future__ import annotations

import argparse
import os
import sys
import traceback
from collections.abc import Sequence
from typing import Any, NoReturn

from bundler import __version__
from bundler.cli.bundle_commands import (
    do_add,
    do_download,
    do_pack,
    do_prune,
    do_sbom,
    do_serve,
    do_unpack,
)
from bundler.cli.console import (
    ConsoleReporter,
    scrub,
    write_json,
)
from bundler.cli.diff_command import do_diff
from bundler.cli.lock_command import do_lock
from bundler.cli.options import merge_config, read_config
from bundler.cli.parser import build_parser, command_parser
from bundler.cli.process import Process, end_process, tune_collector
from bundler.cli.publish_command import do_publish
from bundler.cli.verify_commands import do_build, do_verify
from bundler.errors import BundlerError

__all__ = ["COMMANDS", "main", "run"]


COMMANDS = {
    "prune": do_prune,
    "pack": do_pack,
    "unpack": do_unpack,
    "lock": do_lock,
    "download": do_download,
    "verify": do_verify,
    "build": do_build,
    "serve": do_serve,
    "add": do_add,
    "publish": do_publish,
    "sbom": do_sbom,
    "diff": do_diff,
}


def main(argv: Sequence[str] | None = None) -> NoReturn:
    """The ``bundle`` command: run, then end the process (the one place
    that tunes it; see ``bundler.cli.process``; its HTTP clients get the
    process-wide DNS cache, ``bundler.cli.settings.make_client``)."""
    Process.keep_alive = []
    end_process(run(argv, own_process=True))


def run(argv: Sequence[str] | None = None, *, own_process: bool = False) -> int:
    """Run the CLI; return the exit code (0 ok, 1 unsatisfiable/gate failed, 2 usage).

    ``own_process``: the process ends with this run (the ``bundle`` command),
    so process-wide settings may be tuned for it."""
    Process.clients = []
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        # Reported by the command's own parser, with its usage line.
        command_parser(parser, args.command).error(f"unrecognized arguments: {' '.join(unknown)}")
    if own_process:
        tune_collector(args.command)
    if args.command is None:
        parser.print_help(sys.stderr)
        return 2
    reporter = ConsoleReporter(quiet=args.quiet, verbose=getattr(args, "verbose", False))
    payload: dict[str, Any] = {"command": args.command, "bundler": __version__}
    try:
        code = _run_command(args, reporter, payload)
    except KeyboardInterrupt:
        Process.cancel()  # the interpreter waits for its download threads
        reporter.close()
        reporter.say("interrupted")
        return 130
    finally:
        reporter.close()
    payload["exit_code"] = code
    if getattr(args, "json", None):
        try:
            write_json(args.json, payload)
        except BundlerError as err:
            reporter.error(str(err))
            return err.exit_code
        except OSError as err:
            reporter.error(f"cannot write {args.json}: {err.strerror or err}")
            return 2
    return code


def _run_command(
    args: argparse.Namespace, reporter: ConsoleReporter, payload: dict[str, Any]
) -> int:
    """The error boundary: the command's exit code, every error (but
    Ctrl-C) reported as a message and recorded in ``payload``."""
    try:
        args = merge_config(args, read_config(args))
        return COMMANDS[args.command](args, reporter, payload)
    except BundlerError as err:
        reporter.error(str(err))
        payload["error"] = scrub(str(err))
        return err.exit_code
    except OSError as err:  # the machine said no: not a bundler bug
        where = f"{err.filename}: " if err.filename else ""
        message = scrub(f"{where}{err.strerror or err}")
        reporter.error(message)
        payload["error"] = message
        return 1
    except Exception as err:  # a bug, reported without a traceback
        reporter.error(
            f"{type(err).__name__}: {err} (set BUNDLER_DEBUG=1 for a traceback; please report it)",
            label="internal error: ",
        )
        if os.environ.get("BUNDLER_DEBUG"):
            reporter.say(traceback.format_exc())
        payload["error"] = scrub(f"internal error: {type(err).__name__}: {err}")
        return 1
