"""A directory as a publish destination (``/srv/pypi``, ``file://...``).

Two layouts.  ``simple``: a bundle's own static index (``files/`` and
``simple/`` with PEP 503 HTML and PEP 691 JSON pages, hashes, sidecars),
which any static web server, or pip through ``file://``, reads.
``autoindex``: one directory per normalized project holding its files, the
classic internal index behind a web server's directory listings (no pages,
no hashes: the locks carry them).

The pages are the destination's record of what it holds: publishing reads
each project's page, adds the new files and writes the union back, so
every bundle ever published stays listed with its yanked flags and
metadata.  A publish is all or nothing: every file and page is first
written to a temp file beside its place, and only when all of them are
written are they put in place, so a full disk or a bundle file that
changed leaves the destination as it was.  Readers never see a page
linking a missing file: files go in first (hard-linked to their names, so
no name is ever replaced), each project page is then replaced by a
rename, the root pages last.  A lock file serializes publishers; a killed
one leaves the previous pages in place and its temp files are removed by
the next run.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from urllib.parse import urlsplit

from packaging.utils import NormalizedName, canonicalize_name

from bundler.bundle.layout import FILES_DIR, METADATA_SUFFIX, PAGE_HTML, PAGE_JSON, SIMPLE_DIR
from bundler.bundle.manifest import is_normalized_name
from bundler.bundle.pagewriter import (
    listed_artifact,
    render_project_html,
    render_project_json,
    render_root_html,
    render_root_json,
)
from bundler.errors import BundlerError, UsageError
from bundler.fsutil import (
    StagedChanges,
    copy_hashing,
    directory_lock,
    sha256_file,
    url_path_to_local,
)
from bundler.models import BundleArtifact, IndexFile
from bundler.publish.destination import Held, PublishFile
from bundler.publish.plan import REFUSE, PlannedFile, PublishRefused
from bundler.redact import redact_url
from bundler.reporting import Reporter
from bundler.spec.filenames import is_safe_filename
from bundler.spec.pages import parse_html_page, parse_json_page

__all__ = ["LAYOUTS", "LAYOUT_AUTOINDEX", "LAYOUT_SIMPLE", "LOCK_WAIT", "DirectoryDestination"]

# How a directory destination is laid out: a bundle's files/ + simple/, or
# one directory per project for an autoindexing web server.
LAYOUT_SIMPLE = "simple"
LAYOUT_AUTOINDEX = "autoindex"
LAYOUTS = (LAYOUT_SIMPLE, LAYOUT_AUTOINDEX)


# How long a publisher waits for another one to finish with the directory.
LOCK_WAIT = 600.0
# The bundle lock of this name inside DEST (``DEST/.publish.lock``): DEST is
# never swapped for a new tree, and the web root's parent may be read-only.
_LOCKED = "publish"
_TASK = "publish"
# What temp_file_beside names its files: ``.<name>.<random>.tmp``.
_TEMP = re.compile(r"\..+\.[A-Za-z0-9_]+\.tmp")


class DirectoryDestination:
    """Publishes into a local directory (see the module docstring)."""

    def __init__(
        self, path: Path, *, layout: str = LAYOUT_SIMPLE, read_url: str | None = None
    ) -> None:
        if layout not in LAYOUTS:
            raise UsageError(f"--layout {layout}: choose one of {', '.join(LAYOUTS)}")
        if path.exists() and not path.is_dir():
            raise UsageError(f"{path}: not a directory", hint="publish to a directory")
        self.path = path.absolute()
        self.layout = layout
        self._read_url = read_url

    def describe(self) -> str:
        return str(self.path)

    def read_url(self) -> str | None:
        if self._read_url is not None:
            return self._read_url
        if self.layout == LAYOUT_SIMPLE:
            return self.path.resolve().as_uri() + f"/{SIMPLE_DIR}/"
        return None  # directory listings exist only behind a web server

    # -- reading ---------------------------------------------------------------------

    def held(self, projects: Sequence[str]) -> Mapping[str, Held]:
        out: dict[str, Held] = {}
        for raw in projects:
            project = canonicalize_name(raw)
            if self.layout == LAYOUT_AUTOINDEX:
                out.update(self._held_in_project_dir(project))
                continue
            for a in self._listed(project):
                path = self.path / FILES_DIR / a.filename
                # A listed file someone removed is published again.
                if path.is_file():
                    out[a.filename] = Held(a.filename, a.sha256, path.as_uri())
        return out

    def _held_in_project_dir(self, project: NormalizedName) -> dict[str, Held]:
        out: dict[str, Held] = {}
        directory = self.path / project
        if not directory.is_dir():
            return out
        for entry in sorted(directory.iterdir()):
            if entry.is_file() and not _TEMP.fullmatch(entry.name):
                out[entry.name] = Held(entry.name, sha256_file(entry)[0], entry.as_uri())
        return out

    def _listed(self, project: NormalizedName) -> list[BundleArtifact]:
        """The files the project's page lists (its JSON page, else its HTML
        page), as bundle artifacts, so that a page can be written again
        with more files."""
        page_dir = self.path / SIMPLE_DIR / project
        page_url = page_dir.resolve().as_uri() + "/"
        for name, parse in ((PAGE_JSON, parse_json_page), (PAGE_HTML, parse_html_page)):
            path = page_dir / name
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                continue
            except OSError as err:
                raise BundlerError(f"{path}: cannot be read: {err.strerror or err}") from err
            try:
                page = parse(content, page_url, project, str(path))
            except BundlerError as err:
                raise BundlerError(
                    f"{path}: the destination's page cannot be read, so it cannot be merged: {err}",
                    hint="repair or remove the page, then publish again",
                ) from err
            files_dir = (self.path / FILES_DIR).resolve()
            for f in page.files:
                self._check_beside(f, files_dir, path)
            return [self._artifact(f) for f in page.files]
        return []

    def _check_beside(self, f: IndexFile, files_dir: Path, page: Path) -> None:
        """Refuse a page entry whose file is not in ``files/``: the merged
        page links every file there, so such an entry would point at a file
        that does not exist (a pip2pi/dir2pi tree keeps files beside pages)."""
        parts = urlsplit(f.url)
        where = Path(url_path_to_local(parts.path)) if parts.scheme == "file" else None
        if where is not None and where.parent == files_dir and where.name == f.filename:
            return
        raise BundlerError(
            f"{page}: lists {f.filename} at {redact_url(f.url.partition('#')[0])}, not in"
            f" {self.path / FILES_DIR}: {self.path} is not a bundler-layout index,"
            " so it cannot be merged into; nothing was published",
            hint="publish to a new directory (or --layout autoindex for a per-project tree)",
        )

    def _artifact(self, f: IndexFile) -> BundleArtifact:
        if f.sha256 is None:
            raise BundlerError(
                f"{self.path / SIMPLE_DIR / f.project}: lists {f.filename} without a sha256",
                hint="every file of a published index carries its hash: repair the page",
            )
        size = f.size
        if size is None:
            with contextlib.suppress(OSError):
                size = (self.path / FILES_DIR / f.filename).stat().st_size
        metadata = f.core_metadata.get("sha256") if f.core_metadata else None
        return listed_artifact(f, sha256=f.sha256, size=size or 0, metadata_sha256=metadata)

    # -- writing ---------------------------------------------------------------------

    def put(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        for f in files:
            name, project = f.artifact.filename, f.artifact.project
            if not is_safe_filename(name) or not is_normalized_name(project):
                raise BundlerError(f"{name}: not a file name that can be published")
        with self.lock(LOCK_WAIT):
            self._remove_leftovers()
            # Another publisher may have come first: refuse before any change.
            refused = [
                PlannedFile(f.artifact.filename, REFUSE, why)
                for f in files
                if (why := _differs(self._file_path(f.artifact), f.artifact.sha256)) is not None
            ]
            if refused:
                raise PublishRefused(self.describe(), refused)
            reporter.task_start(_TASK, "publishing", sum(f.artifact.size for f in files))
            if self.layout == LAYOUT_AUTOINDEX:
                self._put_autoindex(files, reporter)
            else:
                self._put_simple(files, reporter)
            reporter.task_done(_TASK)

    def lock(self, wait: float) -> contextlib.AbstractContextManager[None]:
        """The lock publishers take turns with (waiting up to ``wait`` s)."""
        return directory_lock(self.path / _LOCKED, wait=wait)

    def _file_path(self, a: BundleArtifact) -> Path:
        if self.layout == LAYOUT_AUTOINDEX:
            return self.path / a.project / a.filename
        return self.path / FILES_DIR / a.filename

    def _put_autoindex(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        with _Staged() as staged:
            for f in files:
                a = f.artifact
                if a.yanked is not None:
                    reporter.warning(
                        f"{a.filename} is yanked, which a directory listing cannot say"
                        " (PEP 592): installers will see it as not yanked"
                    )
                staged.copy(f.path, self._file_path(a), a.sha256)
                reporter.task_advance(_TASK, a.size)
            staged.commit()

    def _put_simple(self, files: Sequence[PublishFile], reporter: Reporter) -> None:
        files_dir = self.path / FILES_DIR
        with _Staged() as staged:
            for f in files:
                a = f.artifact
                if f.metadata is not None and a.metadata_sha256 is not None:
                    # The sidecar before the file: pip reads it as soon as the page says so.
                    sidecar = files_dir / (a.filename + METADATA_SUFFIX)
                    staged.copy(f.metadata, sidecar, a.metadata_sha256)
                staged.copy(f.path, self._file_path(a), a.sha256)
                reporter.task_advance(_TASK, a.size)
            by_project: dict[NormalizedName, list[BundleArtifact]] = {}
            for f in files:
                by_project.setdefault(f.artifact.project, []).append(f.artifact)
            for project, new in sorted(by_project.items()):
                merged = {a.filename: a for a in self._listed(project)}
                for a in new:
                    merged.setdefault(a.filename, replace(a, origin="", targets=(), needed_by=()))
                items = sorted(merged.values(), key=lambda a: a.filename)
                page_dir = self.path / SIMPLE_DIR / project
                # JSON first: pip reads HTML from file:// and either from a server.
                staged.write(page_dir / PAGE_JSON, render_project_json(project, items))
                staged.write(page_dir / PAGE_HTML, render_project_html(project, items))
            projects = set(self._projects()) | set(by_project)
            simple = self.path / SIMPLE_DIR
            staged.write(simple / PAGE_JSON, render_root_json(projects))
            staged.write(simple / PAGE_HTML, render_root_html(projects))
            staged.commit()

    def _projects(self) -> Iterable[NormalizedName]:
        simple = self.path / SIMPLE_DIR
        if not simple.is_dir():
            return
        for entry in simple.iterdir():
            listed = (entry / PAGE_HTML).is_file() or (entry / PAGE_JSON).is_file()
            if listed and is_normalized_name(entry.name):
                yield NormalizedName(entry.name)

    def _remove_leftovers(self) -> None:
        """Temp files a killed publisher left (none is in use: this run
        holds the lock)."""
        dirs = [self.path / FILES_DIR, self.path / SIMPLE_DIR]
        if self.path.is_dir():
            dirs += [e for e in self.path.iterdir() if e.is_dir() and is_normalized_name(e.name)]
        simple = self.path / SIMPLE_DIR
        if simple.is_dir():
            dirs += [e for e in simple.iterdir() if e.is_dir()]
        for directory in dirs:
            with contextlib.suppress(OSError):
                for entry in directory.iterdir():
                    if _TEMP.fullmatch(entry.name) and entry.is_file():
                        entry.unlink()


class _Staged(StagedChanges):
    """A publish as one change (``StagedChanges``): each file is staged
    hashed as it is copied, and never replaces a file already there."""

    def __init__(self) -> None:
        super().__init__("published")

    def copy(self, source: Path, dest: Path, sha256: str) -> None:
        """Stage ``source`` for ``dest``, never to replace a file there: one
        with the same bytes is kept, one with other bytes is refused."""
        if dest.is_file():
            _same_or_refuse(dest, sha256)
            return
        tmp = self.new_file(dest)
        try:
            with open(tmp, "wb") as out, source.open("rb") as src:
                digest, _ = copy_hashing(src, out)
        except OSError as err:
            raise self.write_error(dest, err) from err
        if digest != sha256:
            raise BundlerError(
                f"{source} changed while it was published: sha256 {digest},"
                f" the bundle's is {sha256}; nothing was published",
                hint="verify the bundle again",
            )


def _differs(dest: Path, sha256: str) -> str | None:
    """Why ``dest`` cannot take a file of ``sha256`` (it holds other
    bytes), or None."""
    try:
        digest, _ = sha256_file(dest)
    except FileNotFoundError:
        return None
    if digest == sha256:
        return None
    return f"held with sha256 {digest}, the bundle's is {sha256}"


def _same_or_refuse(dest: Path, sha256: str) -> None:
    why = _differs(dest, sha256)
    if why is not None:
        raise PublishRefused(str(dest.parent), [PlannedFile(dest.name, REFUSE, why)])
