"""PEP 751 lock-file markers on ``extras`` and ``dependency_groups``:
deciding those clauses for the extras and groups asked for, and leaving
the rest of the marker for the target to evaluate."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

from packaging.markers import InvalidMarker, Marker
from packaging.utils import canonicalize_name

__all__ = ["decide_selection_marker"]

_SELECTION_VARIABLES = frozenset({"extras", "dependency_groups"})


def decide_selection_marker(
    marker: Marker | None, extras: Collection[str], groups: Collection[str]
) -> tuple[bool, str | None]:
    """Decide the ``extras``/``dependency_groups`` clauses of a lock-file
    marker (PEP 751): (whether the package is selected, what is left of
    the marker for the target to evaluate)."""
    if marker is None:
        return True, None
    text = str(marker)
    if not any(v in text for v in _SELECTION_VARIABLES):
        return True, text
    chosen: dict[str, Collection[str]] = {
        "extras": {canonicalize_name(e) for e in extras},
        "dependency_groups": {canonicalize_name(g) for g in groups},
    }
    # packaging has no public API for partial evaluation; walk its tree.
    result = _decide_list(marker._markers, chosen)
    if isinstance(result, bool):
        return result, None
    try:
        return True, str(Marker(result))
    except InvalidMarker as err:  # pragma: no cover - rebuilt from a parsed marker
        raise ValueError(f"cannot simplify the marker {text!r}: {err}") from None


def _decide_list(items: Sequence[Any], chosen: Mapping[str, Collection[str]]) -> str | bool:
    alternatives: list[str] = []
    terms: list[str] = []
    holds = True
    for item in [*items, "or"]:
        if item == "or":
            if holds and not terms:
                return True
            if holds:
                alternatives.append(" and ".join(terms))
            terms, holds = [], True
            continue
        if item == "and" or not holds:
            continue
        value = _decide_atom(item, chosen)
        if value is False:
            holds = False
        elif value is not True:
            terms.append(value)
    if not alternatives:
        return False
    return " or ".join(alternatives)


def _decide_atom(item: Any, chosen: Mapping[str, Collection[str]]) -> str | bool:
    if isinstance(item, list):
        value = _decide_list(item, chosen)
        return value if isinstance(value, bool) else f"({value})"
    lhs, op, rhs = item
    variable = next((n.value for n in (lhs, rhs) if type(n).__name__ == "Variable"), None)
    if variable not in _SELECTION_VARIABLES:
        return f"{lhs.serialize()} {op.serialize()} {rhs.serialize()}"
    # PEP 751 lock-file markers test membership: 'name' in extras.
    if type(lhs).__name__ != "Value" or rhs.value != variable or op.value not in ("in", "not in"):
        clause = f"{lhs.serialize()} {op.serialize()} {rhs.serialize()}"
        raise ValueError(f"unsupported marker clause {clause!r}")
    member = canonicalize_name(lhs.value) in chosen[variable]
    return member if op.value == "in" else not member
