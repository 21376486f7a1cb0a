"""A bundle's software bill of materials: CycloneDX 1.6 JSON, made with
``cyclonedx-python-lib``, and checked against the manifest.

One component per release the bundle holds (``pkg:pypi/name@version``); as
``cyclonedx-py`` does for locks that list files (poetry, pipenv), each file
of the release is a ``distribution`` external reference carrying its
sha256, its URL the file's path in the bundle; the component's own
``hashes`` are those of its files too.  Build-only releases have
the scope ``excluded``; the targets a release serves are properties; the
dependency graph comes from the manifest's "via" of each pin.

The output is deterministic: the serial number is derived from the
manifest's digest and the timestamp is the newest upload time of the
bundle's files, so the same bundle gives the same bytes.  Rendering and
checking are pure; reading licenses from the bundle's files is the only I/O.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler import __version__
from bundler.bundle.layout import FILES_DIR, METADATA_SUFFIX, SBOM_FILE
from bundler.bundle.manifest import manifest_to_json
from bundler.errors import BundlerError
from bundler.models import BundleArtifact, DistKind, Manifest
from bundler.spec.metadata import sdist_file, wheel_metadata

if TYPE_CHECKING:
    from cyclonedx.model.license import License

SPEC_VERSION = "1.6"
# Property names (CycloneDX: names outside the "cdx:" taxonomy carry a
# namespace of their own).
TARGET_PROPERTY = "bundler:target"
BUILD_ONLY_PROPERTY = "bundler:build-only"
REQUIREMENT_PROPERTY = "bundler:requirement"
# The component standing for the bundle itself (metadata.component).
ROOT_REF = "bundle"
# Serial numbers: urn:uuid of a UUID5 of the manifest digest in this space.
_SERIAL_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://pypi.org/project/bundlegate/sbom")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_CLASSIFIER_PREFIX = "License :: "
# A License field longer than this, or on several lines, is a license text.
_MAX_LICENSE_NAME = 100
# How much of a differing value a problem quotes.
_MAX_SHOWN = 80


@dataclass(frozen=True)
class DeclaredLicense:
    """What a release's core metadata says of its license: the first of
    License-Expression (PEP 639), License classifiers, the License field."""

    expression: str | None = None
    classifiers: tuple[str, ...] = ()
    text: str | None = None


@dataclass(frozen=True)
class Release:
    """One component of the SBOM: a release and the bundle files of it."""

    name: NormalizedName
    version: str
    files: tuple[BundleArtifact, ...]
    targets: tuple[str, ...]
    build_only: bool
    depends_on: tuple[str, ...]  # purls

    @property
    def purl(self) -> str:
        return release_purl(self.name, self.version)


def release_purl(name: str, version: str) -> str:
    """``pkg:pypi/name@version`` (purl spec: the PyPI type takes the
    normalized name)."""
    return f"pkg:pypi/{canonicalize_name(name)}@{version}"


def _version_text(text: str) -> str:
    try:
        return str(Version(text))
    except InvalidVersion:
        return text


def releases(manifest: Manifest) -> tuple[Release, ...]:
    """The releases of a bundle, by name and version, with their files,
    targets and dependencies (a release depends on each release whose pin
    names it in its "via" and shares a target with it)."""
    files: dict[tuple[NormalizedName, str], list[BundleArtifact]] = defaultdict(list)
    for a in manifest.artifacts:
        files[(a.project, _version_text(a.version))].append(a)
    targets: dict[tuple[NormalizedName, str], set[str]] = defaultdict(set)
    build_only: dict[tuple[NormalizedName, str], bool] = {}
    via: dict[tuple[NormalizedName, str], set[str]] = defaultdict(set)
    for pkg in manifest.packages:
        key = (pkg.name, str(pkg.version))
        targets[key].update(pkg.targets or {t for f in pkg.files for t in f.targets})
        build_only[key] = build_only.get(key, True) and pkg.build_only
        via[key].update(pkg.via)
    for key, items in files.items():
        targets[key].update(t for a in items for t in a.targets)
        if key not in build_only:
            build_only[key] = all(a.build_only for a in items)
            via[key].update(n for a in items for n in a.needed_by)
    keys = sorted(set(files) | set(build_only), key=lambda k: (k[0], _version_text(k[1])))
    by_name: dict[str, list[tuple[NormalizedName, str]]] = defaultdict(list)
    for key in keys:
        by_name[key[0]].append(key)
    depends: dict[tuple[NormalizedName, str], set[str]] = defaultdict(set)
    for key in keys:
        for dependent in via[key]:
            # "name", "name (build)" for a build requirement, "-r file".
            for parent in by_name.get(canonicalize_name(dependent.split(" ", 1)[0]), ()):
                shared = targets[parent] & targets[key]
                if shared or not targets[parent] or not targets[key]:
                    depends[parent].add(release_purl(*key))
    return tuple(
        Release(
            name=key[0],
            version=key[1],
            files=tuple(sorted(files.get(key, ()), key=lambda a: a.filename)),
            targets=tuple(sorted(targets[key])),
            build_only=build_only[key],
            depends_on=tuple(sorted(depends[key])),
        )
        for key in keys
    )


def manifest_digest(manifest: Manifest) -> str:
    """sha256 of the manifest as ``bundle.json`` renders it, without the
    sidecars' hashes (which ``bundle download`` records after the SBOM is
    made, and which follow from the files)."""
    bare = dataclasses.replace(
        manifest,
        artifacts=tuple(dataclasses.replace(a, metadata_sha256=None) for a in manifest.artifacts),
    )
    return hashlib.sha256(manifest_to_json(bare)).hexdigest()


def _timestamp(manifest: Manifest) -> datetime:
    """The newest upload time of the bundle's files (PEP 700), else the
    Unix epoch: a time that depends on the bundle only."""
    newest = _EPOCH
    for a in manifest.artifacts:
        if not a.upload_time:
            continue
        try:
            when = datetime.fromisoformat(a.upload_time.replace("Z", "+00:00"))
        except ValueError:
            continue
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        newest = max(newest, when.replace(microsecond=0))
    return newest


# --- licenses ------------------------------------------------------------------------


def declared_license(metadata: bytes) -> DeclaredLicense:
    """The license fields of core metadata (METADATA or PKG-INFO)."""
    from packaging.metadata import parse_email

    raw, _ = parse_email(metadata)
    expression = (raw.get("license_expression") or "").strip() or None
    classifiers = tuple(
        c.strip()[len(_CLASSIFIER_PREFIX) :].rsplit(" :: ", 1)[-1]
        for c in raw.get("classifiers", [])
        if c.strip().startswith(_CLASSIFIER_PREFIX)
    )
    text = (raw.get("license") or "").strip() or None
    if text is not None and text.upper() == "UNKNOWN":
        text = None  # setuptools' placeholder for "not given"
    return DeclaredLicense(expression=expression, classifiers=classifiers, text=text)


def release_metadata(bundle_dir: Path, files: Sequence[BundleArtifact]) -> bytes | None:
    """The core metadata of a release as the bundle holds it: a wheel's
    PEP 658 sidecar (else the wheel's own METADATA), else an sdist's
    PKG-INFO; None when no file of the release has any."""
    files_dir = bundle_dir / FILES_DIR
    for a in sorted(files, key=lambda a: (a.kind is not DistKind.WHEEL, a.filename)):
        path = files_dir / a.filename
        try:
            if a.kind is DistKind.WHEEL:
                sidecar = path.with_name(a.filename + METADATA_SUFFIX)
                if sidecar.is_file():
                    return sidecar.read_bytes()
                return wheel_metadata(path, a.filename)
            data = sdist_file(path, a.filename, "PKG-INFO")
        except (BundlerError, OSError):
            continue
        if data is not None:
            return data
    return None


def bundle_licenses(
    bundle_dir: Path,
    manifest: Manifest,
    metadata: Mapping[str, bytes] | None = None,
) -> dict[str, DeclaredLicense]:
    """purl -> declared license of every release of the bundle whose
    metadata says anything of it.  ``metadata`` (filename -> METADATA read
    from that very file) saves reading wheels again."""
    out: dict[str, DeclaredLicense] = {}
    known = metadata or {}
    for release in releases(manifest):
        data = next((known[a.filename] for a in release.files if a.filename in known), None)
        if data is None:
            data = release_metadata(bundle_dir, release.files)
        if data is None:
            continue
        declared = declared_license(data)
        if declared != DeclaredLicense():
            out[release.purl] = declared
    return out


# One return per form of license PEP 639 orders (expression, classifiers, text).
def _licenses(declared: DeclaredLicense | None) -> list[License]:  # noqa: PLR0911
    """CycloneDX licenses for what the metadata declares (PEP 639: the
    expression wins; else each classifier; else the License field)."""
    from cyclonedx import spdx
    from cyclonedx.model import AttachedText
    from cyclonedx.model.license import (
        DisjunctiveLicense,
        LicenseAcknowledgement,
        LicenseExpression,
    )

    declared_ack = LicenseAcknowledgement.DECLARED
    if declared is None:
        return []
    if declared.expression is not None:
        spdx_id = spdx.fixup_id(declared.expression)
        if spdx_id is not None:
            return [DisjunctiveLicense(id=spdx_id, acknowledgement=declared_ack)]
        if spdx.is_expression(declared.expression):
            return [LicenseExpression(declared.expression, acknowledgement=declared_ack)]
        return [DisjunctiveLicense(name=declared.expression, acknowledgement=declared_ack)]
    if declared.classifiers:
        return [
            DisjunctiveLicense(name=name, acknowledgement=declared_ack)
            for name in dict.fromkeys(declared.classifiers)
        ]
    if declared.text is None:
        return []
    text = declared.text
    if "\n" not in text and len(text) <= _MAX_LICENSE_NAME:
        spdx_id = spdx.fixup_id(text)
        if spdx_id is not None:
            return [DisjunctiveLicense(id=spdx_id, acknowledgement=declared_ack)]
        return [DisjunctiveLicense(name=text, acknowledgement=declared_ack)]
    return [
        DisjunctiveLicense(
            name="declared license",
            text=AttachedText(content=text),
            acknowledgement=declared_ack,
        )
    ]


# --- rendering -----------------------------------------------------------------------


def render_sbom(manifest: Manifest, licenses: Mapping[str, DeclaredLicense]) -> bytes:
    """The bundle's SBOM as CycloneDX 1.6 JSON bytes (deterministic)."""
    from cyclonedx.model import (
        ExternalReference,
        ExternalReferenceType,
        HashAlgorithm,
        HashType,
        Property,
        XsUri,
    )
    from cyclonedx.model.bom import Bom, BomMetaData
    from cyclonedx.model.component import Component, ComponentScope, ComponentType
    from cyclonedx.model.tool import ToolRepository
    from cyclonedx.output.json import JsonV1Dot6
    from packageurl import PackageURL

    all_releases = releases(manifest)
    components: dict[str, Component] = {}
    for release in all_releases:
        properties = [Property(name=TARGET_PROPERTY, value=t) for t in release.targets]
        if release.build_only:
            properties.append(Property(name=BUILD_ONLY_PROPERTY, value="true"))
        components[release.purl] = Component(
            name=release.name,
            version=release.version,
            type=ComponentType.LIBRARY,
            bom_ref=release.purl,
            purl=PackageURL(type="pypi", name=release.name, version=release.version),
            scope=ComponentScope.EXCLUDED if release.build_only else ComponentScope.REQUIRED,
            licenses=_licenses(licenses.get(release.purl)),
            # Component hashes: what Dependency-Track and grype match on.
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=a.sha256) for a in release.files],
            external_references=[
                ExternalReference(
                    type=ExternalReferenceType.DISTRIBUTION,
                    url=XsUri(f"{FILES_DIR}/{a.filename}"),
                    comment=a.kind.value,
                    hashes=[HashType(alg=HashAlgorithm.SHA_256, content=a.sha256)],
                )
                for a in release.files
            ],
            properties=properties,
        )
    root = Component(
        name=ROOT_REF,
        type=ComponentType.APPLICATION,
        bom_ref=ROOT_REF,
        description="the packages of a bundle made by bundler",
        properties=[
            *(Property(name=TARGET_PROPERTY, value=t) for t in manifest.targets),
            *(Property(name=REQUIREMENT_PROPERTY, value=r) for r in manifest.requirements),
        ],
    )
    tool = Component(name="bundlegate", version=__version__, type=ComponentType.APPLICATION)
    bom = Bom(
        serial_number=uuid.uuid5(_SERIAL_NAMESPACE, manifest_digest(manifest)),
        metadata=BomMetaData(
            timestamp=_timestamp(manifest),
            component=root,
            tools=ToolRepository(components=[tool]),
        ),
        components=components.values(),
    )
    depended = {purl for r in all_releases for purl in r.depends_on}
    top = [c for purl, c in components.items() if purl not in depended]
    bom.register_dependency(root, top)
    for release in all_releases:
        bom.register_dependency(
            components[release.purl], [components[p] for p in release.depends_on]
        )
    text = JsonV1Dot6(bom).output_as_string(indent=2)
    return (text.rstrip("\n") + "\n").encode("utf-8")


def bundle_sbom(
    bundle_dir: Path, manifest: Manifest, metadata: Mapping[str, bytes] | None = None
) -> bytes:
    """The SBOM of the bundle at ``bundle_dir`` whose manifest is
    ``manifest`` (licenses read from its files, or from ``metadata``)."""
    return render_sbom(manifest, bundle_licenses(bundle_dir, manifest, metadata))


def with_sbom(
    bundle_dir: Path,
    manifest: Manifest,
    top_files: Mapping[str, bytes],
    metadata: Mapping[str, bytes] | None = None,
) -> dict[str, bytes]:
    """``top_files`` (name -> bytes, the files at the bundle's top) with
    the SBOM added when ``manifest`` says the bundle has one and it is not
    among them."""
    files = dict(top_files)
    if manifest.sbom and SBOM_FILE not in files:
        files[SBOM_FILE] = bundle_sbom(bundle_dir, manifest, metadata)
    return files


# --- checking ------------------------------------------------------------------------


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


__all__ = [
    "BUILD_ONLY_PROPERTY",
    "SPEC_VERSION",
    "TARGET_PROPERTY",
    "DeclaredLicense",
    "Release",
    "bundle_licenses",
    "bundle_sbom",
    "declared_license",
    "manifest_digest",
    "release_purl",
    "releases",
    "render_sbom",
    "sbom_difference",
    "sbom_problems",
    "with_sbom",
]
