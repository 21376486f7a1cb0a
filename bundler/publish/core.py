"""The publisher: a bundle is published only when its verify stamp says
the gate passed over its very manifest and its files still check out
(verify's integrity check, run again); the destination a DEST names is
opened here, and the plan (``bundler.publish.plan``) decides what is sent.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from packaging.utils import NormalizedName

from bundler.bundle.layout import FILES_DIR, MANIFEST_NAME, METADATA_SUFFIX
from bundler.errors import BundlerError, UsageError, check_url
from bundler.fsutil import sha256_file, url_path_to_local
from bundler.gate.integrity import check_integrity
from bundler.gate.stamp import Stamp, check_stamp
from bundler.models import Manifest
from bundler.publish.destination import Destination, Held, PublishFile
from bundler.publish.directory import LAYOUT_SIMPLE, DirectoryDestination
from bundler.publish.plan import UPLOAD, PublishRefused, PublishResult, plan
from bundler.redact import redact_url
from bundler.reporting import NULL_REPORTER, Reporter

if TYPE_CHECKING:
    from bundler.index.client import HttpClient

__all__ = [
    "check_publishable",
    "open_destination",
    "publish",
    "publish_files",
]


def manifest_digest(bundle_dir: Path) -> str:
    return sha256_file(bundle_dir / MANIFEST_NAME)[0]


def check_publishable(
    bundle_dir: Path, manifest: Manifest, reporter: Reporter = NULL_REPORTER
) -> Stamp:
    """The bundle's verify stamp, when it is current and passed and the
    bundle is still intact (every file with its hash and size, nothing
    extra); else a ``BundlerError`` (exit 1) naming what is wrong."""
    stamp = check_stamp(bundle_dir, manifest_digest(bundle_dir))
    reporter.stage("integrity")
    result = check_integrity(bundle_dir, manifest, reporter=reporter)
    if result.failed:
        lines = "\n".join(f"  {p}" for p in result.problems)
        raise BundlerError(
            f"{bundle_dir} changed since `bundle verify` passed; nothing was published:\n{lines}",
            hint="rebuild the bundle and verify it again",
        )
    return stamp


def publish_files(bundle_dir: Path, manifest: Manifest) -> list[PublishFile]:
    """Every artifact with its path and PEP 658 sidecar (when it has one)."""
    files_dir = bundle_dir / FILES_DIR
    return [
        PublishFile(
            artifact=a,
            path=files_dir / a.filename,
            metadata=files_dir / (a.filename + METADATA_SUFFIX) if a.metadata_sha256 else None,
        )
        for a in sorted(manifest.artifacts, key=lambda a: a.filename)
    ]


def _hashed(held: Held, hash_url: Callable[[str], str] | None) -> Held:
    if held.sha256 is not None:
        return held
    if held.url is None or hash_url is None:
        raise BundlerError(
            f"{held.filename} is at the destination without a hash, and cannot be read back"
            " to compare it"
        )
    return Held(held.filename, hash_url(held.url), held.url)


def publish(
    bundle_dir: Path,
    manifest: Manifest,
    destination: Destination,
    *,
    dry_run: bool = False,
    hash_url: Callable[[str], str] | None = None,
    reporter: Reporter = NULL_REPORTER,
) -> PublishResult:
    """Publish a checked bundle (see ``check_publishable``) to
    ``destination``: plan from what it holds, refuse before any change when
    a name is held with other bytes, then put the rest.  ``hash_url``
    gives the sha256 of a file the destination lists without one.  With
    ``dry_run`` nothing is written and refusals are only reported."""
    projects: list[NormalizedName] = sorted({a.project for a in manifest.artifacts})
    reporter.stage(f"reading {destination.describe()}")
    ours = {a.filename for a in manifest.artifacts}
    held = {
        name: _hashed(h, hash_url) for name, h in destination.held(projects).items() if name in ours
    }
    the_plan = plan(manifest.artifacts, held)
    result = PublishResult(destination.describe(), the_plan, dry_run)
    if dry_run:
        return result
    if the_plan.refused:
        raise PublishRefused(destination.describe(), the_plan.refused)
    sending = set(the_plan.named(UPLOAD))
    if sending:
        reporter.stage(f"publishing {len(sending)} file(s) to {destination.describe()}")
        files = [f for f in publish_files(bundle_dir, manifest) if f.artifact.filename in sending]
        destination.put(files, reporter)
    return result


# --- destinations by URL --------------------------------------------------------------


def _module_class(module: str, name: str, dest: str) -> Any:
    """A destination class from its module, imported when first asked for
    (boto3 and the upload client load only for their destinations)."""
    try:
        found = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name is not None and module.startswith(err.name):
            raise UsageError(
                f"{dest}: this bundler cannot publish there ({module} is not part of it)",
                hint="publish to a directory, or upgrade bundler",
            ) from err
        raise UsageError(
            f"{dest}: publishing there needs the package {err.name!r}",
            hint=f"install it (pip install {err.name})",
        ) from err
    return getattr(found, name)


# The URL schemes installers read a published index from.
READ_SCHEMES = ("http", "https", "file")


def open_destination(
    dest: str,
    *,
    read_url: str | None = None,
    layout: str | None = None,
    client: HttpClient | None = None,
    promote_to: str | None = None,
    s3_endpoint_url: str | None = None,
    bundle: Path | None = None,
) -> Destination:
    """The destination ``dest`` names: a directory path or ``file://`` URL,
    an upload URL (``http(s)://``, spoken through ``client``: the command
    line's TLS and credential settings; a devpi staging index with
    ``promote_to``) or ``s3://bucket/prefix`` (at ``s3_endpoint_url``, else
    ``AWS_ENDPOINT_URL``).  Every argument is checked before anything is
    written: an empty DEST, a DEST inside ``bundle``, an unusable READ_URL."""
    if not dest.strip():
        raise UsageError("DEST is empty", hint="give a directory or URL to publish to")
    scheme = urlsplit(dest).scheme if "://" in dest else ""
    if read_url is not None:
        _check_read_url(read_url)
    if promote_to is not None and scheme not in ("http", "https"):
        raise UsageError(
            f"--promote-to {promote_to}: only a devpi staging index (http(s)://) is promoted",
            hint="give DEST as the staging index's URL, e.g. https://devpi.example/user/staging/",
        )
    if s3_endpoint_url is not None:
        if scheme != "s3":
            raise UsageError(
                f"--s3-endpoint-url: {dest} is not an s3:// destination",
                hint="drop --s3-endpoint-url, or publish to s3://bucket/prefix",
            )
        check_url(s3_endpoint_url, "--s3-endpoint-url")
    if scheme in ("", "file"):
        path = Path(url_path_to_local(urlsplit(dest).path)) if scheme else Path(dest)
        if bundle is not None:
            _check_outside(path, bundle)
        return DirectoryDestination(path, layout=layout or LAYOUT_SIMPLE, read_url=read_url)
    if layout is not None:
        raise UsageError(
            f"--layout {layout}: only a directory destination has a layout",
            hint="drop --layout, or publish to a directory",
        )
    check_url(dest, "DEST")
    if scheme in ("http", "https") and promote_to is not None:
        devpi = _module_class("bundler.publish.devpi", "DevpiDestination", redact_url(dest))
        destination: Destination = devpi(
            dest, promote_to=promote_to, read_url=read_url, client=client
        )
        return destination
    if scheme in ("http", "https"):
        upload = _module_class("bundler.publish.upload", "UploadDestination", redact_url(dest))
        destination = upload(dest, read_url=read_url, client=client)
        return destination
    if scheme == "s3":
        s3 = _module_class("bundler.publish.s3", "S3Destination", dest)
        destination = s3(dest, read_url=read_url, endpoint_url=s3_endpoint_url)
        return destination
    raise UsageError(
        f"{redact_url(dest)}: cannot publish to a {scheme}:// URL",
        hint="give a directory, file://, http(s):// (an upload API) or s3://bucket/prefix",
    )


def _check_read_url(url: str) -> None:
    """READ_URL is what installers read: an http(s):// or file:// URL."""
    check_url(url, "--index-url")
    parts = urlsplit(url)
    if parts.scheme not in READ_SCHEMES or "://" not in url:
        raise UsageError(
            f"--index-url {redact_url(url)}: not an http(s):// or file:// URL",
            hint="give the simple-index URL installers read DEST from",
        )
    if parts.scheme != "file" and not parts.hostname:
        raise UsageError(f"--index-url {redact_url(url)}: no host", hint="give a full URL")


def _check_outside(dest: Path, bundle: Path) -> None:
    """Publishing into the bundle itself would change the files being
    published (and break the bundle's integrity)."""
    where, inside = dest.resolve(), bundle.resolve()
    if where == inside or inside in where.parents:
        raise UsageError(
            f"DEST {dest} is inside the bundle {bundle}",
            hint="publish to a directory outside the bundle",
        )
