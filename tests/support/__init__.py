"""Test toolkit: real distributions built in-process, a local index, pip."""

from collections.abc import Callable, Iterable
from pathlib import Path

from .distbuilder import (
    DistSpec,
    build_all,
    build_sdist,
    build_wheel,
    filenames,
    packse_specs,
    read_wheel_metadata,
    write_metadata_sidecar,
    yanked_files,
)
from .indexserver import IndexConfig, IndexServer, Reply, write_static_index
from .piputil import clean_pip_env, installed, make_venv, pip_run

# Types of the conftest fixtures, for annotating test parameters.
DistFactory = Callable[[Iterable[DistSpec]], Path]
IndexServerFactory = Callable[..., IndexServer]

__all__ = [
    "DistFactory",
    "DistSpec",
    "IndexConfig",
    "IndexServer",
    "IndexServerFactory",
    "Reply",
    "build_all",
    "build_sdist",
    "build_wheel",
    "clean_pip_env",
    "filenames",
    "installed",
    "make_venv",
    "packse_specs",
    "pip_run",
    "read_wheel_metadata",
    "write_metadata_sidecar",
    "write_static_index",
    "yanked_files",
]
