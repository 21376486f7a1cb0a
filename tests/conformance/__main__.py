"""``python -m tests.conformance``: run the packse scenarios, print the table.

Exit code 0 when no scenario failed, 1 otherwise, 2 when no scenario was found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from .runner import (
    SCENARIOS_ENV,
    Result,
    Status,
    Transport,
    find_scenarios,
    format_pins,
    format_report,
    pip_agrees,
    pip_verdict,
    run_all,
    scenarios_root,
)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m tests.conformance",
        description="Run the packse resolver scenarios through bundler and compare"
        " each outcome with the scenario's expectation.",
        epilog="example: python -m tests.conformance -k prereleases --verbose",
    )
    parser.add_argument(
        "--scenarios",
        type=Path,
        default=None,
        help=f"the packse scenarios directory (default: ${SCENARIOS_ENV} or the bundled copy)",
    )
    parser.add_argument(
        "-k",
        dest="pattern",
        default="",
        help="only scenarios whose id (category/name) contains this text",
    )
    parser.add_argument(
        "--http",
        action="store_true",
        help="serve each universe over HTTP on 127.0.0.1 instead of a file:// index",
    )
    parser.add_argument(
        "--pip",
        action="store_true",
        help="also ask real pip (isolated, --dry-run) and print its outcome per scenario",
    )
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="print every scenario as it finishes"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    root = args.scenarios if args.scenarios is not None else scenarios_root()
    scenarios = [s for s in find_scenarios(root) if args.pattern in s.id]
    if not scenarios:
        print(f"no scenario found under {root} matching {args.pattern!r}", file=sys.stderr)
        return 2

    def show(result: Result) -> None:
        if args.verbose:
            print(f"{result.status.value:>10}  {result.scenario}: {result.detail}", flush=True)

    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="bundle-conformance-") as tmp:
        transport: Transport = "http" if args.http else "file"
        results = run_all(scenarios, Path(tmp), transport=transport, on_result=show)
        if args.pip:
            print("pip's outcomes (isolated pip, --dry-run, same index):")
            for i, (scenario, result) in enumerate(zip(scenarios, results, strict=True)):
                verdict = pip_verdict(scenario, Path(tmp) / f"pip{i:03d}")
                if verdict.satisfiable is None:
                    outcome = "n/a"
                elif verdict.satisfiable:
                    outcome = format_pins(verdict.packages)
                else:
                    outcome = "unsatisfiable"
                expected = "satisfiable" if scenario.expectation.satisfiable else "unsatisfiable"
                agrees = {True: "same as bundler", False: "DIFFERS from bundler", None: "-"}
                note = f" [{verdict.note}]" if verdict.note else ""
                print(
                    f"  {scenario.id}: pip {outcome}; packse {expected};"
                    f" {agrees[pip_agrees(verdict, result)]}{note}"
                )
            print()
    elapsed = time.monotonic() - started
    print(format_report(results))
    print(f"\n{len(results)} scenarios in {elapsed:.1f}s ({transport} index)")
    return 1 if any(r.status is Status.FAILED for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
