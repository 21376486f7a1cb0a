"""Filesystem helpers shared by every stage: atomic writes, hashing,
directory locks, and directories updated all or nothing."""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import os
import re
import secrets
import shutil
import stat
import sys
import tempfile
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, TypeVar
from urllib.parse import unquote

from bundler.errors import BundleLocked, BundlerError, UsageError

__all__ = [
    "CHUNK",
    "DIR_MODE",
    "FILE_MODE",
    "atomic_write",
    "atomic_write_text",
    "copy_hashing",
    "directory_lock",
    "exchange",
    "link_tree",
    "output_file",
    "recover_update",
    "remove_tree",
    "sha256_bytes",
    "sha256_file",
    "swap_in",
    "temp_file_beside",
    "updating",
    "url_path_to_local",
    "write_output",
]

CHUNK = 1 << 20


def _read_umask() -> int:
    # Read once, at import, before any thread of bundler's makes a file: the
    # only way is to set it, and a file made meanwhile would get mode 0666.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# The mode of a file made the ordinary way (open()): what any user may read
# under the usual umask.  A temp file is made 0600, and a bundle written
# that way could not be served by a web server running as another user.
_UMASK = _read_umask()
FILE_MODE = 0o666 & ~_UMASK
DIR_MODE = 0o777 & ~_UMASK


def temp_file_beside(path: Path, suffix: str = ".tmp") -> tuple[int, str]:
    """A new temp file next to ``path`` (``.<name>.<random><suffix>``), as
    ``(fd, name)``, to be renamed over it, with the mode an ordinary new
    file gets (``FILE_MODE``).  The directory is made when it is missing
    (not asked for before every file)."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix, dir=path.parent)
    if hasattr(os, "fchmod"):
        try:
            os.fchmod(fd, FILE_MODE)
        except OSError:
            os.close(fd)
            os.unlink(name)
            raise
    return fd, name


def atomic_write(path: Path, data: bytes, *more: bytes) -> None:
    """Write ``data`` (then each of ``more``: parts of a long file are not
    joined into one more copy first) to ``path`` through a temp file in the
    same directory and ``os.replace``, so a crash never leaves half a file
    under the name (readers see the old file or the new one).

    The bytes are not forced to the disk (no fsync): on Linux that commits
    every dirty file of the file system, e.g. a whole bundle just
    downloaded, and costs more than the run.  What is read back is checked
    anyway (cache entries by their digest, a bundle by ``bundle verify``)."""
    fd, tmp = temp_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            for part in more:
                fh.write(part)
        os.replace(tmp, path)
    except OSError as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if err.errno == errno.ENOSPC:
            raise BundlerError(f"no space left on device while writing {path}") from err
        raise
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[IO[bytes]]:
    """A binary file to write the output the user named ``path`` into,
    written atomically where that can be done without harm.

    Only a regular file (or a new one) is replaced, through a temp file and
    ``os.replace`` (see ``atomic_write``); a symbolic link is written
    through, its target replaced and the link kept; a path that exists and
    is not a regular file (a device such as ``/dev/stdout`` or
    ``/dev/null``, a FIFO) is written directly, as ``open(path, "wb")``
    would: replacing it would lose the link or the device.  Files bundler
    keeps itself use ``atomic_write``, which never follows a link."""
    target = Path(os.path.realpath(path)) if path.is_symlink() else path
    if target.is_dir():
        raise UsageError(f"{path}: is a directory", hint="name a file to write the output to")
    if target.exists() and not target.is_file():
        try:
            fh = target.open("wb")
        except OSError as err:
            raise _unwritable(path, err) from err
        try:
            with fh:
                yield fh
        except OSError as err:
            _raise_no_space(target, err)
            raise
        return
    try:
        fd, tmp = temp_file_beside(target)
    except OSError as err:
        _raise_no_space(target, err)
        raise _unwritable(path, err) from err
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
        os.replace(tmp, target)
    except BaseException as err:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        if isinstance(err, OSError):
            _raise_no_space(target, err)
        raise


def write_output(path: Path, data: bytes | str) -> None:
    """Write ``data`` (text as UTF-8) to the output file the user named
    ``path`` (see ``output_file``)."""
    with output_file(path) as fh:
        fh.write(data.encode("utf-8") if isinstance(data, str) else data)


def _unwritable(path: Path, err: OSError) -> UsageError:
    """The output ``path`` cannot be written where it is (a read-only
    directory, a parent that is a file): named as the user gave it, not
    by the temp file bundler tried to make beside it."""
    return UsageError(
        f"cannot write {path}: {err.strerror or err}",
        hint="name an output file in a directory you can write to",
    )


def _raise_no_space(path: Path, err: OSError) -> None:
    if err.errno == errno.ENOSPC:
        raise BundlerError(f"no space left on device while writing {path}") from err


def remove_tree(path: Path) -> None:
    """Remove a directory tree; symbolic links in it are removed, never
    followed (``shutil.rmtree``)."""
    shutil.rmtree(path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, text.encode("utf-8"))


def sha256_file(path: Path) -> tuple[str, int]:
    """Return (hex sha256, size) of a file, streaming."""
    h = hashlib.sha256()
    size = 0
    with path.open("rb") as fh:
        while chunk := fh.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
    return h.hexdigest(), size


def copy_hashing(
    src: IO[bytes], dst: IO[bytes], progress: Callable[[int], None] | None = None
) -> tuple[str, int]:
    """Copy ``src`` to ``dst`` in chunks; return (hex sha256, size)."""
    h = hashlib.sha256()
    size = 0
    while chunk := src.read(CHUNK):
        dst.write(chunk)
        h.update(chunk)
        size += len(chunk)
        if progress is not None:
            progress(len(chunk))
    return h.hexdigest(), size


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _lock_path(directory: Path) -> Path:
    """The lock file of ``directory``: beside it (``.<name>.lock``), not in
    it, because an update swaps the directory itself for a new one."""
    return directory.parent / f".{directory.name}.lock"


@contextlib.contextmanager
def directory_lock(directory: Path, *, wait: float = 0.0) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` (a lock file beside it).

    Waits up to ``wait`` seconds for another process to release it, then
    raises ``BundleLocked``.  The lock is the operating system's (``flock``,
    or ``LockFileEx`` on Windows, through ``filelock``), so it dies with
    the process (kill -9 safe); where neither exists, a lock file naming its
    process, which the next run takes over once that process is gone.
    """
    directory = _real(directory)
    lock_path = _lock_path(directory)
    try:
        lock_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise _cannot_write(directory, err) from err
    if "filelock" not in sys.modules:
        with warnings.catch_warnings():
            # Without fcntl (not Windows, not POSIX) filelock warns as it is
            # imported that it falls back to a lock file naming its process:
            # that is the intent.
            warnings.simplefilter("ignore")
            import filelock  # noqa: PLC0415 - only commands that write a bundle
    import filelock  # noqa: PLC0415

    lock = filelock.FileLock(lock_path)
    try:
        lock.acquire(timeout=wait, poll_interval=0.1)
    except filelock.Timeout as err:
        raise BundleLocked(str(directory)) from err
    except OSError as err:
        raise _cannot_write(directory, err) from err
    try:
        yield
    finally:
        lock.release()


def _real(directory: Path) -> Path:
    """``directory`` with symbolic links resolved: an update replaces the
    directory a link points to, never the link."""
    return Path(os.path.realpath(directory))


_NOT_WRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


def _cannot_write(directory: Path, err: OSError) -> BundlerError:
    """The error for a failure to write beside ``directory``: a usage error
    when its parent may not be written to."""
    if err.errno not in _NOT_WRITABLE:
        return _update_failed(directory, err)
    return UsageError(
        f"cannot update {directory}: {directory.parent} is not writable ({err.strerror or err})",
        hint="bundler writes a lock file and the new bundle beside the old one;"
        " use a directory whose parent you may write to",
    )


# An update's trees beside the directory: ".<name>.new-<hex>" is the next
# tree (and, once swapped in, the old one); ".<name>.old-<hex>" is the old
# tree set aside where the two cannot be swapped in one step.
_NEW, _OLD = "new", "old"


def _beside(directory: Path, kind: str) -> Path:
    return directory.parent / f".{directory.name}.{kind}-{secrets.token_hex(8)}"


def _leftover_kind(directory: Path, name: str) -> str | None:
    found = re.fullmatch(rf"\.{re.escape(directory.name)}\.({_NEW}|{_OLD})-[0-9a-f]{{16}}", name)
    return found.group(1) if found else None


@contextlib.contextmanager
def updating(directory: Path, *, wait: float = 0.0) -> Iterator[Path]:
    """Update ``directory`` all or nothing, holding its lock.

    Yields a staging directory beside it that starts as a copy of it (files
    hard-linked, not copied: see ``link_tree``); the caller changes the copy
    only by replacing or removing files, never by writing into one.  When
    the block ends normally the copy takes the directory's place in one
    step (``swap_in``) and the old tree is removed; when it raises,
    whatever the reason (an error, Ctrl-C), the copy is removed and the
    directory was never touched.  A process killed meanwhile leaves only
    the copy beside the directory, which the next update removes.

    A mount point cannot be updated this way (the copy would be on another
    file system): that, and a parent that is not writable, are usage
    errors.  Running out of space is a ``BundlerError`` that says the
    directory is unchanged.
    """
    directory = _real(directory)
    if not directory.name or os.path.ismount(directory):
        raise _mount_point(directory)
    if os.path.lexists(directory) and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory")
    with directory_lock(directory, wait=wait):
        try:
            recover_update(directory)
            stage = _make_stage(directory)
        except OSError as err:
            raise _cannot_write(directory, err) from err
        try:
            try:
                if directory.is_dir():
                    link_tree(directory, stage)
                yield stage
                swap_in(stage, directory)
            except OSError as err:
                raise _update_failed(directory, err) from err
            except BundlerError as err:
                # A full disk a write in the copy met names the copy's
                # path: say it of the directory, which is unchanged.
                cause = err.__cause__
                if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
                    raise _update_failed(directory, cause) from err
                raise
        except BaseException:
            _remove_quietly(stage)
            raise


def _update_failed(directory: Path, err: OSError) -> BundlerError:
    if err.errno in (errno.EXDEV, errno.EBUSY):  # a bind mount, or in use as one
        return _mount_point(directory)
    if err.errno == errno.ENOSPC:
        return BundlerError(
            f"no space left on device while updating {directory}; it is unchanged",
            hint="free some space and run the command again",
        )
    return BundlerError(
        f"cannot update {directory}: {err.strerror or err}"
        + (f": {err.filename}" if err.filename else "")
        + "; it is unchanged"
    )


def _mount_point(directory: Path) -> UsageError:
    return UsageError(
        f"cannot update {directory}: it is a mount point, and its new version is"
        " made beside it (on the same file system) and swapped in; it is unchanged",
        hint=f"use a directory inside it, e.g. {directory / 'pypi'}",
    )


def _make_stage(directory: Path) -> Path:
    directory.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(directory.stat().st_mode)
    except FileNotFoundError:
        mode = DIR_MODE
    while True:
        stage = _beside(directory, _NEW)
        try:
            stage.mkdir(mode=0o700)
        except FileExistsError:
            continue
        os.chmod(stage, mode)  # the mode it will have as the directory
        return stage


def recover_update(directory: Path) -> None:
    """Clear what an interrupted update of ``directory`` left beside it
    (call it holding the directory's lock): the old tree set aside by a
    two-step swap comes back if the directory is missing, and every other
    leftover is removed."""
    try:
        entries = sorted(directory.parent.iterdir())
    except FileNotFoundError:
        return
    for entry in entries:
        kind = _leftover_kind(directory, entry.name)
        if kind is None or entry.is_symlink() or not entry.is_dir():
            continue
        if kind == _OLD and not os.path.lexists(directory):
            os.rename(entry, directory)
        else:
            _remove_quietly(entry)


def _remove_quietly(path: Path) -> None:
    with contextlib.suppress(OSError):
        remove_tree(path)
    # What a thread still writing there added meanwhile: the next update
    # removes anything left.
    shutil.rmtree(path, ignore_errors=True)


def swap_in(new: Path, directory: Path) -> None:
    """Put the tree ``new`` at ``directory`` and remove the old tree.

    Readers of ``directory`` see the old tree or the new one, never a mix:
    on Linux both are swapped in one step (``renameat2`` with
    ``RENAME_EXCHANGE``); elsewhere, or on a file system that cannot, the
    old tree is renamed aside and ``new`` renamed into place, so for a
    moment there is no ``directory`` (a reader finds nothing), and a
    process killed in between leaves the old tree aside, put back by the
    next update (``recover_update``).
    """
    if not os.path.lexists(directory):
        os.rename(new, directory)
        return
    if exchange(new, directory):
        _remove_quietly(new)  # now the old tree
        return
    old = _beside(directory, _OLD)
    os.rename(directory, old)
    try:
        os.rename(new, directory)
    except BaseException:
        os.rename(old, directory)
        raise
    _remove_quietly(old)


_AT_FDCWD = -100  # <fcntl.h>
_RENAME_EXCHANGE = 2  # <linux/fs.h>
# What renameat2 answers where the kernel or the file system lacks it.
_NO_EXCHANGE = frozenset({errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP})


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        function: Callable[..., int] = libc.renameat2  # glibc 2.28+, musl 1.2.4+
    except (OSError, AttributeError, TypeError):  # not Linux
        return None
    return function


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one step; False where the system cannot
    (not Linux, an old C library, or a file system without it)."""
    function = _renameat2()
    if function is None:
        return False
    code = function(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE)
    if code == 0:
        return True
    number = ctypes.get_errno()
    if number in _NO_EXCHANGE:
        return False
    raise OSError(number, os.strerror(number), str(second))


def _raise(err: OSError) -> None:
    raise err


def link_tree(source: Path, dest: Path) -> None:
    """Copy the tree ``source`` into the existing directory ``dest``:
    directories made anew with their modes, files hard-linked (copied where
    a link is refused), symbolic links copied as links.  A hard link costs
    a few microseconds whatever the file's size, and shares the file: the
    copy must be changed only by replacing or removing files.  A directory
    that cannot be read is an error: the copy would lack it."""
    for root, dirs, files in os.walk(source, onerror=_raise):
        here = dest / os.path.relpath(root, source)
        for name in dirs:
            src = os.path.join(root, name)
            if os.path.islink(src):  # os.walk does not go into it
                os.symlink(os.readlink(src), here / name)
            else:
                os.mkdir(here / name)
                os.chmod(here / name, stat.S_IMODE(os.stat(src).st_mode))
        for name in files:
            src = os.path.join(root, name)
            if os.path.islink(src):
                os.symlink(os.readlink(src), here / name)
                continue
            try:
                os.link(src, here / name)
            except OSError as err:
                if err.errno == errno.ENOSPC:
                    raise
                shutil.copy2(src, here / name)


def url_path_to_local(path: str) -> str:
    """The local path named by a ``file:`` URL's (quoted) path, as
    ``urllib.request.url2pathname`` gives it (without importing urllib.request)."""
    if os.name == "nt":  # pragma: no cover - drive letters and backslashes
        from nturl2path import url2pathname  # noqa: PLC0415

        return url2pathname(path)  # unquotes too
    return unquote(path)


_Self = TypeVar("_Self", bound="StagedChanges")

# What a staged change replaced or removed, to be put back if the change
# fails: None (no file was there), the name of a hard link to it, or its
# bytes (where hard links cannot be made; only small files are replaced).
_Previous = str | bytes | None


class StagedChanges:
    """Changes to files in place (a served directory: never swapped for a
    new tree) made all or nothing.

    Every new file and every new content is first written to a temp file
    beside its place (``new_file``, ``write``), and each file to go is
    named (``remove``).  ``commit`` then puts them in place in the order
    they were staged, and only then moves the removed files aside and
    deletes them: a reader never sees a page that links a file already
    gone.  A failure before ``commit`` removes the temp files and the
    directories made for them; a failure during it undoes what it did
    (a replaced file comes back from a hard link, or from its bytes).
    Either way the files are left as they were.  ``what`` says what the
    change is in the message of a write error ("nothing was published")."""

    def __init__(self, what: str) -> None:
        self.what = what
        self._staged: list[tuple[str, Path, bool]] = []  # temp, place, replaces a file
        self._removed: list[tuple[Path, bool]] = []  # and its directory too
        self._made: list[Path] = []  # directories made, parents first

    def __enter__(self: _Self) -> _Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self._discard()

    def new_file(self, dest: Path) -> str:
        """A temp file to fill for ``dest``, which must not exist."""
        return self._temp(dest, replaces=False)

    def write(self, dest: Path, data: bytes) -> None:
        """Stage ``data`` to replace (or be) the file at ``dest``."""
        tmp = self._temp(dest, replaces=True)
        try:
            with open(tmp, "wb") as out:
                out.write(data)
        except OSError as err:
            raise self.write_error(dest, err) from err

    def remove(self, path: Path, *, with_directory: bool = False) -> None:
        """Stage the removal of ``path`` (nothing happens if it is gone);
        ``with_directory``: its directory too, once that is empty."""
        self._removed.append((path, with_directory))

    def write_error(self, dest: Path, err: OSError) -> BundlerError:
        reason = "no space left on device" if err.errno == errno.ENOSPC else err.strerror
        return BundlerError(
            f"cannot write {dest}: {reason or err}; nothing was {self.what}",
            hint="free space or fix the directory's permissions, then try again",
        )

    def _temp(self, dest: Path, *, replaces: bool) -> str:
        missing = [d for d in (dest.parent, *dest.parent.parents) if not d.exists()]
        try:
            for directory in reversed(missing):
                directory.mkdir()
                self._made.append(directory)
            fd, tmp = temp_file_beside(dest)
        except OSError as err:
            raise self.write_error(dest, err) from err
        os.close(fd)
        self._staged.append((tmp, dest, replaces))
        return tmp

    def commit(self) -> None:
        """Make every staged change, or, failing, none of them."""
        done: list[tuple[Path, _Previous]] = []
        aside: list[tuple[Path, str]] = []  # removed file, its name aside
        try:
            for tmp, dest, replaces in self._staged:
                done.append((dest, _put_in_place(tmp, dest, replaces=replaces)))
            for path, _ in self._removed:
                if os.path.lexists(path):
                    name = str(path.parent / f".{path.name}.{secrets.token_hex(6)}.tmp")
                    os.rename(path, name)
                    aside.append((path, name))
        except BaseException:
            for path, name in reversed(aside):
                with contextlib.suppress(OSError):
                    os.rename(name, path)
            for dest, previous in reversed(done):
                with contextlib.suppress(OSError, BundlerError):
                    if previous is None:
                        dest.unlink()
                    elif isinstance(previous, str):
                        os.replace(previous, dest)
                    else:
                        atomic_write(dest, previous)
            raise
        leftovers = [p for _, p in done if isinstance(p, str)] + [name for _, name in aside]
        for name in leftovers:
            with contextlib.suppress(OSError):
                os.unlink(name)
        for path, with_directory in self._removed:
            if with_directory:
                with contextlib.suppress(OSError):
                    path.parent.rmdir()  # unless it holds more
        self._staged.clear()
        self._removed.clear()
        self._made.clear()

    def _discard(self) -> None:
        for tmp, _, _ in self._staged:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        for directory in reversed(self._made):
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
        self._staged.clear()
        self._removed.clear()
        self._made.clear()


def _put_in_place(tmp: str, dest: Path, *, replaces: bool) -> _Previous:
    """Move the staged ``tmp`` to ``dest``; return what it replaced."""
    if replaces:
        previous: _Previous = None
        if dest.exists():
            backup = str(dest.parent / f".{dest.name}.{secrets.token_hex(6)}.tmp")
            try:
                os.link(dest, backup)
                previous = backup
            except OSError:
                previous = dest.read_bytes()
        os.replace(tmp, dest)
        return previous
    try:
        os.link(tmp, dest)  # fails when the name exists: never replaces
    except OSError as err:
        if isinstance(err, FileExistsError) or err.errno not in (
            errno.EPERM,
            errno.ENOTSUP,
            errno.EOPNOTSUPP,
        ):
            raise
        os.rename(tmp, dest)  # no hard links here: the caller checked, holding its lock
        return None
    os.unlink(tmp)
    return None
