"""A bundle's SBOM checked as plain JSON (the gate does not load the
CycloneDX library): against the manifest (each release a component, each
file with its sha256, build-only releases excluded), and whole against the
SBOM the bundle gives when rendered again."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from bundler.bundle.layout import FILES_DIR
from bundler.bundle.sbom import SPEC_VERSION, releases
from bundler.models import BundleArtifact, Manifest

__all__ = ["sbom_difference", "sbom_problems"]

# How much of a differing value a problem quotes.
_MAX_SHOWN = 80


def _components(doc: Mapping[str, Any], problems: list[str]) -> dict[str, Mapping[str, Any]]:
    value = doc.get("components", [])
    if not isinstance(value, list):
        problems.append("'components' is not a list")
        return {}
    out: dict[str, Mapping[str, Any]] = {}
    for i, item in enumerate(value):
        purl = item.get("purl") if isinstance(item, dict) else None
        if not isinstance(purl, str):
            problems.append(f"components[{i}] has no purl")
            continue
        if purl in out:
            problems.append(f"lists {purl} twice")
        out[purl] = item
    return out


def _files(component: Mapping[str, Any]) -> dict[str, str | None]:
    """files/<name> -> sha256 of a component's distribution references."""
    out: dict[str, str | None] = {}
    refs = component.get("externalReferences", [])
    for ref in refs if isinstance(refs, list) else []:
        if not isinstance(ref, dict) or ref.get("type") != "distribution":
            continue
        url = ref.get("url")
        if not isinstance(url, str):
            continue
        hashes = ref.get("hashes", [])
        out[url] = next(
            (
                h.get("content")
                for h in (hashes if isinstance(hashes, list) else [])
                if isinstance(h, dict) and h.get("alg") == "SHA-256"
            ),
            None,
        )
    return out


def sbom_problems(data: bytes, manifest: Manifest) -> list[str]:
    """What in an SBOM disagrees with the manifest: its components (one per
    release, by purl), each one's files and their sha256, and which are
    build-only (scope ``excluded``).  Empty when they agree."""
    problems: list[str] = []
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return [f"not valid JSON: {err}"]
    if not isinstance(doc, dict) or doc.get("bomFormat") != "CycloneDX":
        return ["not a CycloneDX document (no bomFormat 'CycloneDX')"]
    if doc.get("specVersion") != SPEC_VERSION:
        problems.append(f"specVersion is {doc.get('specVersion')!r}, not {SPEC_VERSION!r}")
    listed = _components(doc, problems)
    expected = {r.purl: r for r in releases(manifest)}
    for purl in sorted(set(listed) - set(expected)):
        problems.append(f"lists {purl}, which the manifest does not lock")
    for purl, release in sorted(expected.items()):
        component = listed.get(purl)
        if component is None:
            problems.append(f"does not list {purl}, which the manifest locks")
            continue
        if component.get("version") != release.version:
            problems.append(f"{purl} has the version {component.get('version')!r}")
        excluded = component.get("scope") == "excluded"
        if excluded != release.build_only:
            what = "build-only" if release.build_only else "installed"
            problems.append(f"{purl} has the scope {component.get('scope')!r}, but it is {what}")
        problems.extend(_file_problems(purl, _files(component), release.files))
    return problems


def sbom_difference(data: bytes, expected: bytes) -> str | None:
    """Where the SBOM ``data`` first differs from ``expected`` (the SBOM the
    bundle gives), e.g. ``components[3].licenses[0].license.id: ...``; None
    when both are the same JSON.  ``metadata.tools`` names the version that
    wrote the SBOM and is not compared, so a newer bundler verifies it."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        return f"not valid JSON: {err}"
    want = json.loads(expected.decode("utf-8"))
    for value in (doc, want):
        if isinstance(value, dict) and isinstance(value.get("metadata"), dict):
            value["metadata"].pop("tools", None)
    return _first_difference(doc, want, "")


# One return per way two JSON values differ (key, length, value), object by array.
def _first_difference(got: object, want: object, path: str) -> str | None:  # noqa: PLR0911
    if isinstance(got, dict) and isinstance(want, dict):
        for key in sorted(set(got) | set(want)):
            where = f"{path}.{key}" if path else key
            if key not in want:
                return f"{where}: not in the SBOM the bundle gives"
            if key not in got:
                return f"{where}: missing, the bundle gives {_short(want[key])}"
            if (found := _first_difference(got[key], want[key], where)) is not None:
                return found
        return None
    if isinstance(got, list) and isinstance(want, list):
        for i, (g, w) in enumerate(zip(got, want, strict=False)):
            if (found := _first_difference(g, w, f"{path}[{i}]")) is not None:
                return found
        if len(got) != len(want):
            return f"{path}: {len(got)} items, the bundle gives {len(want)}"
        return None
    if got != want or type(got) is not type(want):
        return f"{path}: {_short(got)}, the bundle gives {_short(want)}"
    return None


def _short(value: object) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _file_problems(
    purl: str, listed: Mapping[str, str | None], files: Iterable[BundleArtifact]
) -> list[str]:
    problems: list[str] = []
    wanted = {f"{FILES_DIR}/{a.filename}": a.sha256 for a in files}
    for url in sorted(set(listed) - set(wanted)):
        problems.append(f"{purl} lists {url}, which the manifest does not list for it")
    for url, sha256 in sorted(wanted.items()):
        if url not in listed:
            problems.append(f"{purl} does not list {url}")
        elif listed[url] != sha256:
            problems.append(f"{url}: sha256 {listed[url]} differs from the manifest's {sha256}")
    return problems
