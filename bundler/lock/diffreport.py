"""``bundle diff``'s reports: a Diff rendered for a terminal, as a
pull-request comment (Markdown) and as JSON (pure)."""

from __future__ import annotations

import json
from typing import Any

from bundler.lock.diff import ADDED, REMOVED, UPGRADE, Change, Diff, HashChange

__all__ = ["diff_to_json", "render_json", "render_markdown", "render_text"]


def _size(n: int) -> str:
    return f"{n / 1e6:.1f} MB" if abs(n) >= 100_000 else f"{n} bytes"


def _size_line(diff: Diff) -> str:
    change = diff.size_change
    if change is None or diff.old_size is None or diff.new_size is None:
        return "size: not known for both sides (a requirements lock gives no sizes)"
    sign = "+" if change >= 0 else "-"
    return f"size: {_size(diff.old_size)} -> {_size(diff.new_size)} ({sign}{_size(abs(change))})"


def _change_text(c: Change) -> str:
    if c.kind == ADDED:
        return f"+ {c.name} {c.new}"
    if c.kind == REMOVED:
        return f"- {c.name} {c.old}"
    return f"{'^' if c.kind == UPGRADE else 'v'} {c.name} {c.old} -> {c.new} ({c.kind})"


def _hash_text(h: HashChange) -> str:
    what = h.filename or "its files"
    return f"{h.name} {h.version}: {what}: sha256 {', '.join(h.old)} -> {', '.join(h.new)}"


def render_text(diff: Diff) -> str:
    """The diff for a terminal or a log."""
    lines = [f"{diff.old} -> {diff.new}"]
    for t in diff.targets:
        lines.append(f"target {t.target}: {len(t.changes) or 'no'} changes")
        lines.extend(f"  {_change_text(c)}" for c in t.changes)
    if diff.new_sdists:
        lines.append("new sdists (built from source at install):")
        lines.extend(f"  {f.filename or f.name} ({f.name} {f.version})" for f in diff.new_sdists)
    if diff.new_build_only:
        lines.append("new build-only packages:")
        lines.extend(f"  {f.name} {f.version}" for f in diff.new_build_only)
    if diff.hash_changes:
        lines.append("HASH CHANGED for the same version (a published file never changes):")
        lines.extend(f"  {_hash_text(h)}" for h in diff.hash_changes)
    lines.append(_size_line(diff))
    return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    """Text safe in a Markdown table cell or list item."""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("`", "\\`")


def render_markdown(diff: Diff) -> str:
    """The diff as a pull-request comment (GitHub-flavoured Markdown)."""
    counts = diff.counts()
    summary = ", ".join(f"{n} {k}" for k, n in counts.items() if n) or "no changes"
    lines = [f"### bundle diff: {_md(diff.old)} → {_md(diff.new)}", "", f"**{summary}**", ""]
    if diff.hash_changes:
        lines.append("> [!WARNING]")
        lines.append("> Files changed their sha256 for the same version:")
        lines.extend(f"> - {_md(_hash_text(h))}" for h in diff.hash_changes)
        lines.append("")
    for t in diff.targets:
        if not t.changes:
            continue
        lines.extend([f"#### `{_md(t.target)}`", "", "| package | old | new | change |"])
        lines.append("| --- | --- | --- | --- |")
        lines.extend(
            f"| {_md(c.name)} | {_md(c.old or '')} | {_md(c.new or '')} | {c.kind} |"
            for c in t.changes
        )
        lines.append("")
    if diff.new_sdists:
        lines.append("New sdists (built from source at install):")
        lines.extend(f"- `{_md(f.filename or f.name)}`" for f in diff.new_sdists)
        lines.append("")
    if diff.new_build_only:
        lines.append("New build-only packages:")
        lines.extend(f"- {_md(f.name)} {_md(f.version)}" for f in diff.new_build_only)
        lines.append("")
    lines.append(_md(_size_line(diff)))
    return "\n".join(lines) + "\n"


def diff_to_json(diff: Diff) -> dict[str, Any]:
    """The diff as plain JSON values (for ``--json``)."""
    return {
        "old": diff.old,
        "new": diff.new,
        "counts": diff.counts(),
        "targets": [
            {
                "target": t.target,
                "changes": [
                    {"kind": c.kind, "name": c.name, "old": c.old, "new": c.new} for c in t.changes
                ],
            }
            for t in diff.targets
        ],
        "new_sdists": [
            {"name": f.name, "version": f.version, "filename": f.filename} for f in diff.new_sdists
        ],
        "new_build_only": [{"name": f.name, "version": f.version} for f in diff.new_build_only],
        "hash_changes": [
            {
                "name": h.name,
                "version": h.version,
                "filename": h.filename,
                "old": list(h.old),
                "new": list(h.new),
            }
            for h in diff.hash_changes
        ],
        "size": {"old": diff.old_size, "new": diff.new_size, "change": diff.size_change},
    }


def render_json(diff: Diff) -> str:
    return json.dumps(diff_to_json(diff), indent=2, sort_keys=True) + "\n"
