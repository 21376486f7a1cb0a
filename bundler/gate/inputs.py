"""``verify --check-inputs``: whether the bundle was made from the
requirements, constraints and targets given now."""

from __future__ import annotations

from pathlib import Path

from bundler.bundle.layout import MANIFEST_NAME
from bundler.gate.report import FAILED, INPUTS, PASSED, CheckResult, Problem
from bundler.lock.check import CONSTRAINT, REQUIREMENT, TARGET, Inputs, Line, compare, make_inputs
from bundler.models import Manifest

__all__ = ["check_inputs"]


def check_inputs(
    bundle_dir: Path, manifest: Manifest, current: Inputs, *, targets: bool
) -> CheckResult:
    """``verify --check-inputs``: whether the bundle was made from
    ``current`` (its requirement and constraint lines, and its targets when
    ``targets``), as ``bundle.json`` records them; each difference a
    problem located in the input file or the manifest."""
    where = str(bundle_dir / MANIFEST_NAME)
    compared = "requirements, constraints" + (" and targets" if targets else "")
    if not manifest.requirements:
        problem = Problem(
            INPUTS,
            where,
            "records no requirements: the bundle was made from a lock, not from requirements",
        )
        return CheckResult(INPUTS, None, FAILED, (problem,), "compare the lock with lock --check")
    recorded = make_inputs(
        [Line(t, where) for t in manifest.requirements],
        [Line(c, where) for c in manifest.constraints],
        manifest.targets,
        (),
    )
    kinds = (REQUIREMENT, CONSTRAINT, TARGET) if targets else (REQUIREMENT, CONSTRAINT)
    problems = tuple(
        Problem(INPUTS, f"{d.path}:{d.line}" if d.line else d.path or where, d.message)
        for d in compare(recorded, current, kinds=kinds)
    )
    status = FAILED if problems else PASSED
    return CheckResult(INPUTS, None, status, problems, f"compared {compared}")
