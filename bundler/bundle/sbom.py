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
bundle's files, so the same bundle gives the same bytes.  Rendering is pure;
reading licenses from the bundle's files is the only I/O; ``sbomcheck``
checks an SBOM against the manifest.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import InvalidVersion, Version

from bundler import __version__
from bundler.bundle.layout import FILES_DIR, METADATA_SUFFIX, SBOM_FILE
from bundler.bundle.manifest import manifest_to_json
from bundler.errors import BundlerError
from bundler.models import BundleArtifact, DistKind, Manifest
from bundler.spec.archives import sdist_file, wheel_metadata

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
    "with_sbom",
]
