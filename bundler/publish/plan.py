"""The publish plan: what to send, what to skip and what to refuse, as a
pure function of the bundle's files and of what a destination holds.

A file held with the same sha256 is skipped, a file held with other bytes
is refused (PyPI's rule: a name, once published, always means the same
bytes), and any refusal stops the run before the destination is changed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bundler.errors import BundlerError
from bundler.models import BundleArtifact
from bundler.publish.destination import Held

__all__ = [
    "REFUSE",
    "SKIP",
    "UPLOAD",
    "PlannedFile",
    "PublishPlan",
    "PublishRefused",
    "PublishResult",
    "plan",
    "result_to_json",
]

UPLOAD = "upload"
SKIP = "skip"
REFUSE = "refuse"


@dataclass(frozen=True)
class PlannedFile:
    """What the publisher does with one bundle file, and why."""

    filename: str
    action: str  # "upload" | "skip" | "refuse"
    reason: str = ""


@dataclass(frozen=True)
class PublishPlan:
    files: tuple[PlannedFile, ...]

    def named(self, action: str) -> tuple[str, ...]:
        return tuple(f.filename for f in self.files if f.action == action)

    @property
    def refused(self) -> tuple[PlannedFile, ...]:
        return tuple(f for f in self.files if f.action == REFUSE)


@dataclass(frozen=True)
class PublishResult:
    destination: str
    plan: PublishPlan
    dry_run: bool


class PublishRefused(BundlerError):
    """Files the destination holds with other bytes (exit 1): nothing was
    changed."""

    def __init__(self, destination: str, refused: Sequence[PlannedFile]) -> None:
        lines = "\n".join(f"  {f.filename}: {f.reason}" for f in refused)
        super().__init__(
            f"{destination} already holds {len(refused)} file(s) of this bundle with other"
            f" bytes; nothing was published:\n{lines}",
            hint="a published file never changes: give the new build a new version"
            " (or a build tag) and publish that",
        )
        self.refused = tuple(refused)


def plan(artifacts: Sequence[BundleArtifact], held: Mapping[str, Held]) -> PublishPlan:
    """Skip what ``held`` has with the same sha256, refuse what it has with
    another, upload the rest.  ``held`` entries must carry a sha256."""
    out: list[PlannedFile] = []
    for a in sorted(artifacts, key=lambda a: a.filename):
        there = held.get(a.filename)
        if there is None:
            out.append(PlannedFile(a.filename, UPLOAD))
        elif there.sha256 == a.sha256:
            out.append(PlannedFile(a.filename, SKIP, "already there with the same sha256"))
        else:
            out.append(
                PlannedFile(
                    a.filename,
                    REFUSE,
                    f"held with sha256 {there.sha256}, the bundle's is {a.sha256}",
                )
            )
    return PublishPlan(tuple(out))


def result_to_json(result: PublishResult) -> dict[str, Any]:
    return {
        "destination": result.destination,
        "dry_run": result.dry_run,
        "uploaded" if not result.dry_run else "would_upload": list(result.plan.named(UPLOAD)),
        "skipped": list(result.plan.named(SKIP)),
        "refused": [{"filename": f.filename, "reason": f.reason} for f in result.plan.refused],
    }
