"""Benchmark bundler against its peers, side by side, on the same inputs.

    python benchmarks/run.py --set small,web --rounds 3 --json results.json
    python benchmarks/run.py --smoke --rounds 1       # a local index, no internet

Every contender runs as a child process with a scrubbed environment, and the
rounds alternate the contenders, so that a slow minute of the network or the
disk hits them all alike.  benchmarks/README.md says what each row means.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import venv
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin

import requests
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
TOOLS_DIR = REPO / "benchmarks" / ".tools"
PYPI = "https://pypi.org/simple/"
# PEP 691: the JSON form of the simple API.
JSON_V1 = "application/vnd.pypi.simple.v1+json"

SETS: dict[str, tuple[str, ...]] = {
    "small": ("requests", "rich"),
    "web": (
        "django",
        "djangorestframework",
        "celery[redis]",
        "psycopg[binary]",
        "gunicorn",
        "sentry-sdk",
        "boto3",
        "pydantic",
    ),
    "datasci": (
        "pandas",
        "scikit-learn",
        "matplotlib",
        "jupyterlab",
        "sqlalchemy",
        "fastapi",
        "uvicorn[standard]",
    ),
    # 316 pins on CPython 3.11 linux (2026-12): a company-sized closure.
    "large": ("apache-airflow[celery,postgres,amazon,google,cncf.kubernetes,http,ssh]",),
}
# The sets of a plain run; `large` runs when named (pip-compile takes minutes on it).
DEFAULT_SETS = ("small", "web", "datasci")

# The multi-target matrix: bundler's platform aliases times Python versions.
# macOS 14 (arm64): scikit-learn, among others, has no wheel for macOS 11.
PLATFORMS = ("linux", "linux-aarch64", "macosx_14_0_arm64", "windows")
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
# pip's --platform matches tags exactly (manylinux2014 also admits 2010 and 1,
# a macOS tag admits older macOS): the flags a careful user passes per alias.
PIP_PLATFORMS: dict[str, tuple[str, ...]] = {
    "linux": ("manylinux_2_28_x86_64", "manylinux2014_x86_64"),
    "linux-aarch64": ("manylinux_2_28_aarch64", "manylinux2014_aarch64"),
    "macosx_14_0_arm64": ("macosx_14_0_arm64",),
    "windows": ("win_amd64",),
}

SCENARIOS = ("lock-cold", "lock-warm", "lock-offline-warm", "download", "verify", "multi-target")
# --scaling: lock only, cold and warm, for one target and for the 16 of the matrix.
SCALING_SCENARIOS = ("lock-cold-1", "lock-warm-1", "lock-cold-16", "lock-warm-16")
BUNDLE = "bundle"
# bundler from a requirements.txt lock: the index pages give the file URLs.
BUNDLE_REQS = "bundle, requirements.txt lock"
UV = "uv pip compile"
PIP_COMPILE = "pip-compile"
PIP_DOWNLOAD = "pip download"
PLAIN = "plain downloader"
VENV_PIP = "venv + pip install"
PIP_LOOP = "pip download loop"

MIB = 1024 * 1024
MB = 1e6
PLAIN_THREADS = 8
# Peers that take seconds even on a tiny index stay out of the smoke check.
SLOW_IN_SMOKE = "slow: not in --smoke"


class HarnessError(Exception):
    """The benchmark itself cannot go on (not a contender's failure)."""


# --- goals --------------------------------------------------------------------------

GoalKind = Literal["time", "speedup", "throughput", "seconds", "memory", "memory-ratio"]


@dataclass(frozen=True)
class Goal:
    """One performance target, checked against the medians."""

    text: str
    kind: GoalKind
    limit: float
    scenario: str = ""
    peer: str = ""
    # The input set the target is stated for; the others are shown too.
    reference: str = "web"


GOALS = (
    Goal("lock cold ≤ 1.5x uv", "time", 1.5, "lock-cold", UV),
    Goal("lock cold ≤ 0.25x pip-compile", "time", 0.25, "lock-cold", PIP_COMPILE),
    Goal("lock warm ≤ 1.5x uv", "time", 1.5, "lock-warm", UV),
    Goal("lock offline warm < 0.5 s", "seconds", 0.5, "lock-offline-warm"),
    Goal("download ≥ 8x pip download (MB/s)", "throughput", 8.0, "download", PIP_DOWNLOAD),
    Goal("download ≥ 90% of the plain downloader (MB/s)", "throughput", 0.9, "download", PLAIN),
    Goal("multi-target ≥ 20x the pip loop", "speedup", 20.0, "multi-target", PIP_LOOP),
    Goal("verify ≤ 0.8x venv + pip install", "time", 0.8, "verify", VENV_PIP),
    Goal("peak memory < 300 MB", "memory", 300.0, reference="datasci"),
)

# The goals of the scaling mode, judged on the one-target rows against uv.
# "every" set: the goal is stated for each set it is judged on.
EVERY = "every"
SCALING_GOALS = (
    Goal("lock cold ≤ 1.0x uv", "time", 1.0, "lock-cold-1", UV, reference="web,datasci"),
    Goal("lock cold ≤ 1.2x uv", "time", 1.2, "lock-cold-1", UV, reference="large"),
    Goal("lock warm ≤ 0.8x uv", "time", 0.8, "lock-warm-1", UV, reference=EVERY),
    Goal("peak memory ≤ 1.5x uv", "memory-ratio", 1.5, "lock-cold-1", UV, reference=EVERY),
)


def goal_applies(goal: Goal, set_name: str) -> bool:
    """Whether ``goal`` is stated for ``set_name``."""
    return goal.reference == EVERY or set_name in goal.reference.split(",")


# --- the machine and the environment ---------------------------------------------------


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on."""
    model = platform.processor() or platform.machine()
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "nproc": usable or os.cpu_count(),
        "cpu": model,
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "os": platform.platform(),
    }


def scrubbed_env(cache_home: Path | None = None) -> dict[str, str]:
    """The environment of every child: no machine pip or uv configuration.

    pip reads PIP_* variables and config files, uv reads UV_* variables and
    uv.toml files: a find-links or extra index set there would bias the
    results.  ``cache_home`` becomes XDG_CACHE_HOME, so that no tool reads or
    fills the user's caches.
    """
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "UV_"))}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["UV_NO_CONFIG"] = "1"
    env.pop("BUNDLER_CACHE_DIR", None)
    if cache_home is not None:
        env["XDG_CACHE_HOME"] = str(cache_home)
    return env


# --- measured processes ---------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What one contender runs once: commands in sequence, timed together."""

    commands: tuple[tuple[str, ...], ...]
    env: Mapping[str, str] = field(hash=False)
    # A loop that goes on past a failing command (pip per target): the time
    # still counts, the failures are reported in the row's detail.
    keep_going: bool = False


@dataclass(frozen=True)
class Outcome:
    """One measured run of a step."""

    seconds: float
    max_rss: int | None  # bytes, the largest process of the tree
    ok: bool
    detail: str = ""
    size: int | None = None  # bytes fetched, for the download rows


def _kill_group(pid: int) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


# Forks the command from a small interpreter and reports its wall time and
# peak RSS.  On Linux a child's ru_maxrss starts at the size of the process
# image it replaced at exec(), so a command forked by the harness itself
# would never report less than the harness; this launcher's floor is ~7 MB.
_LAUNCHER = """
import os, sys, time
out, argv = sys.argv[1], sys.argv[2:]
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execvp(argv[0], argv)
    finally:
        os._exit(127)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - start
rss = usage.ru_maxrss * (1 if sys.platform == "darwin" else 1024)
with open(out, "w") as f:
    f.write(f"{seconds} {rss}")
code = os.waitstatus_to_exitcode(status)
sys.exit(code if code >= 0 else 128 - code)
"""


def run_measured(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path, timeout: float
) -> tuple[int, float, int | None]:
    """Run ``argv``; return its exit code, wall seconds and peak RSS in bytes.

    The RSS is the kernel's high-water mark (wait4) of the command and of the
    descendants it waited for: no psutil, no sampling.  Where there is no
    fork() the command runs directly and the RSS is None.
    """
    report = log.with_name(f"{log.name}.rusage")
    report.unlink(missing_ok=True)
    launch = (
        [sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report)] if hasattr(os, "fork") else []
    )
    with log.open("ab") as out:
        out.write(f"$ {shlex.join(argv)}\n".encode())
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(
            [*launch, *argv],
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # a timeout kills the whole tree
        )
        timer = threading.Timer(timeout, _kill_group, (proc.pid,))
        timer.start()
        try:
            code = proc.wait()
        finally:
            timer.cancel()
        elapsed = time.perf_counter() - start
    try:
        seconds, rss = report.read_text(encoding="utf-8").split()
    except (OSError, ValueError):
        return code, elapsed, None  # killed, or no fork()
    return code, float(seconds), int(rss)


def _tail(log: Path, lines: int = 6) -> str:
    try:
        text = log.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


def run_step(step: Step, *, cwd: Path, log: Path, timeout: float) -> Outcome:
    total = 0.0
    peak: int | None = None
    failures: list[str] = []
    for argv in step.commands:
        # Every command starts with the file system's pending writes on
        # disk (untimed), as after `hyperfine --prepare sync`: what the
        # last command wrote and deleted is not flushed while the next one,
        # of another tool, is timed.
        if hasattr(os, "sync"):
            os.sync()
        code, seconds, rss = run_measured(argv, env=step.env, cwd=cwd, log=log, timeout=timeout)
        total += seconds
        if rss is not None:
            peak = max(peak or 0, rss)
        if code != 0:
            why = "timed out" if seconds >= timeout else f"exit code {code}"
            failures.append(f"{Path(argv[0]).name} {why}")
            if not step.keep_going:
                return Outcome(total, peak, False, f"{failures[0]}: {_tail(log)}")
    if failures:
        return Outcome(total, peak, True, f"{len(failures)}/{len(step.commands)} runs failed")
    return Outcome(total, peak, True)


# --- the plain downloader ---------------------------------------------------------------


def locate_urls(bundle_dir: Path, session: requests.Session) -> list[dict[str, Any]]:
    """The index URL of every artifact of a bundle, read from the JSON pages
    (PEP 691) of the index each artifact came from."""
    manifest = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    pages: dict[str, dict[str, str]] = {}
    found: list[dict[str, Any]] = []
    for art in manifest["artifacts"]:
        page_url = urljoin(art["origin"], f"{art['project']}/")
        if page_url not in pages:
            reply = session.get(page_url, headers={"Accept": JSON_V1}, timeout=60)
            reply.raise_for_status()
            if not reply.headers.get("Content-Type", "").startswith(JSON_V1):
                raise HarnessError(f"{page_url}: the index does not answer in PEP 691 JSON")
            files = reply.json()["files"]
            pages[page_url] = {f["filename"]: urljoin(reply.url, f["url"]) for f in files}
        url = pages[page_url].get(art["filename"])
        if url is None:
            raise HarnessError(f"{page_url}: {art['filename']} is not on the page")
        found.append({"url": url, "filename": art["filename"], "sha256": art["sha256"]})
    return found


def fetch_all(items: Sequence[Mapping[str, Any]], dest: Path, threads: int) -> int:
    """Stream every URL into ``dest`` on ``threads`` pooled connections,
    checking each sha256; return the bytes fetched."""
    dest.mkdir(parents=True, exist_ok=True)
    local = threading.local()

    def one(item: Mapping[str, Any]) -> int:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        digest = hashlib.sha256()
        size = 0
        with session.get(item["url"], stream=True, timeout=60) as reply:
            reply.raise_for_status()
            with (dest / item["filename"]).open("wb") as out:
                for chunk in reply.iter_content(MIB):
                    out.write(chunk)
                    digest.update(chunk)
                    size += len(chunk)
        if digest.hexdigest() != item["sha256"]:
            raise HarnessError(f"{item['url']}: sha256 {digest.hexdigest()} != {item['sha256']}")
        return size

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return sum(pool.map(one, items))


def _fetch_main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="run.py _fetch")
    parser.add_argument("urls", type=Path, help="JSON list of {url, filename, sha256}")
    parser.add_argument("dest", type=Path)
    parser.add_argument("--threads", type=int, default=PLAIN_THREADS)
    args = parser.parse_args(argv)
    items = json.loads(args.urls.read_text(encoding="utf-8"))
    try:
        size = fetch_all(items, args.dest, args.threads)
    except (OSError, requests.RequestException, HarnessError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(items)} files, {size} bytes")
    return 0


# --- the peers ----------------------------------------------------------------------


@dataclass(frozen=True)
class Tools:
    """Where the peers are; None for a peer that is not available."""

    python: Path  # its pip runs pip download
    uv: Path | None
    pip_compile: Path | None


def _bin(venv_dir: Path, name: str) -> Path:
    return venv_dir / ("Scripts" if os.name == "nt" else "bin") / name


def _version_of(argv: Sequence[str]) -> str:
    try:
        proc = subprocess.run(
            list(argv), capture_output=True, text=True, env=scrubbed_env(), timeout=60, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as err:
        return f"unavailable ({err})"
    text = (proc.stdout or proc.stderr).strip()
    found = re.search(r"\d+(?:\.\d+)+\S*", text)
    return found.group(0) if found else (text.splitlines() or ["?"])[0]


def _versions(tools: Tools, bundle: Sequence[str]) -> dict[str, str]:
    versions = {
        "bundle": _version_of([*bundle, "--version"]),
        "pip": _version_of([str(tools.python), "-m", "pip", "--version"]),
    }
    if tools.uv is not None:
        versions["uv"] = _version_of([str(tools.uv), "--version"])
    if tools.pip_compile is not None:
        versions["pip-compile"] = _version_of([str(tools.pip_compile), "--version"])
    return versions


def ensure_tools(console: Console) -> Tools:
    """The peers, installed from PyPI into benchmarks/.tools/venv when missing."""
    venv_dir = TOOLS_DIR / "venv"
    python, uv, pip_compile = (_bin(venv_dir, n) for n in ("python", "uv", "pip-compile"))
    if not (python.exists() and uv.exists() and pip_compile.exists()):
        console.print(f"installing uv and pip-tools into {venv_dir} …")
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
        pip = [str(python), "-m", "pip", "--isolated", "--disable-pip-version-check"]
        argv = [*pip, "install", "--quiet", "--index-url", PYPI, "-U", "pip", "uv", "pip-tools"]
        proc = subprocess.run(argv, env=scrubbed_env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HarnessError(f"cannot install the peers:\n{proc.stdout}\n{proc.stderr}")
    return Tools(python, uv, pip_compile)


def install_bundler(console: Console) -> list[str]:
    """bundler as a user runs it: installed from this checkout (not
    editable) into benchmarks/.tools/bundler-venv, again at every run so
    that the code measured is the checkout's.  An editable install starts
    slower (its import finder and the test extras' .pth files cost about
    12 ms per process), which no installed peer pays."""
    venv_dir = TOOLS_DIR / "bundler-venv"
    python = _bin(venv_dir, "python")
    pip = [str(python), "-m", "pip", "--isolated", "--disable-pip-version-check"]
    steps: list[list[str]] = []
    if not python.exists():
        console.print(f"installing bundler into {venv_dir} …")
        venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
    # A venv made before the fast extra existed lacks it: install it again.
    probe = [str(python), "-c", "import bundler, orjson"]
    env = scrubbed_env()
    if subprocess.run(probe, env=env, cwd=venv_dir, capture_output=True, check=False).returncode:
        steps.append([*pip, "install", "--quiet", "--index-url", PYPI, f"{REPO}[fast]"])
    # The checkout as it is now (its dependencies and the fast extra, as
    # the README installs it, are in already).
    again = ("--no-deps", "--force-reinstall", str(REPO))
    steps.append([*pip, "install", "--quiet", "--index-url", PYPI, *again])
    for argv in steps:
        proc = subprocess.run(argv, env=scrubbed_env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise HarnessError(f"cannot install bundler:\n{proc.stdout}\n{proc.stderr}")
    return [str(python), "-m", "bundler"]


def local_tools() -> Tools:
    """The peers next to this interpreter (the project's test extras), if any."""
    here = Path(sys.executable).parent
    uv, pip_compile = here / "uv", here / "pip-compile"
    return Tools(
        Path(sys.executable),
        uv if uv.exists() else None,
        pip_compile if pip_compile.exists() else None,
    )


# --- workloads ------------------------------------------------------------------------


@dataclass(frozen=True)
class Workload:
    """One input set, prepared once: its lock, a reference bundle, warm caches."""

    name: str
    root: Path
    requirements: Path
    lock: Path  # bundle lock's output for this machine (requirements.txt)
    pylock: Path  # the same lock as PEP 751 pylock.toml: it names each file's URL
    pins: Path  # the lock's pins without hashes, for pip download
    reference: Path  # a bundle made by bundle download, for verify
    urls: Path  # the reference bundle's artifacts' index URLs
    bundle_cache: Path
    uv_cache: Path
    pip_tools_home: Path  # XDG_CACHE_HOME of pip-compile (pip's and pip-tools' caches)


def plain_pins(lock_text: str) -> list[str]:
    """``name==version ; marker`` lines of a hashed requirements file."""
    pins: list[str] = []
    for line in lock_text.splitlines():
        if not line.strip() or line[0] in " \t#-":
            continue
        pins.append(line.rstrip("\\").strip())
    return pins


def bundle_bytes(bundle_dir: Path) -> int:
    manifest = json.loads((bundle_dir / "bundle.json").read_text(encoding="utf-8"))
    return sum(int(a["size"]) for a in manifest["artifacts"])


def dir_bytes(directory: Path) -> int:
    return sum(p.stat().st_size for p in directory.rglob("*") if p.is_file())


@dataclass(frozen=True)
class Contender:
    """One tool in one scenario: how to make its step in a fresh scratch dir."""

    scenario: str
    tool: str
    bundler: bool
    make: Callable[[Path], Step]
    size: Callable[[Path], int] | None = None
    skipped: str = ""  # why it does not run, when it does not


@dataclass
class Row:
    """Every run of one contender on one set."""

    set_name: str
    scenario: str
    tool: str
    bundler: bool
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)

    @property
    def status(self) -> str:
        if self.skipped:
            return "skipped"
        return "ok" if self.ok else "failed"

    @property
    def median(self) -> float | None:
        times = [o.seconds for o in self.outcomes if o.ok]
        return statistics.median(times) if times else None

    @property
    def speed(self) -> float | None:
        """Median throughput in MB/s (10^6 bytes), for rows that count bytes."""
        speeds = [o.size / o.seconds / MB for o in self.outcomes if o.ok and o.size]
        return statistics.median(speeds) if speeds else None

    @property
    def max_rss(self) -> int | None:
        values = [o.max_rss for o in self.outcomes if o.max_rss is not None]
        return max(values) if values else None

    @property
    def detail(self) -> str:
        return self.skipped or next((o.detail for o in self.outcomes if o.detail), "")

    def to_json(self, vs_bundle: float | None) -> dict[str, Any]:
        rss = self.max_rss
        return {
            "set": self.set_name,
            "scenario": self.scenario,
            "tool": self.tool,
            "bundler": self.bundler,
            "status": self.status,
            "times": [round(o.seconds, 4) for o in self.outcomes],
            "median": None if self.median is None else round(self.median, 4),
            "bytes": next((o.size for o in self.outcomes if o.size), None),
            "mb_per_s": None if self.speed is None else round(self.speed, 2),
            "max_rss_mb": None if rss is None else round(rss / MB, 1),
            "vs_bundle": None if vs_bundle is None else round(vs_bundle, 3),
            "detail": self.detail,
        }


class Bench:
    """Prepares the workloads and runs the rounds."""

    def __init__(
        self,
        *,
        workdir: Path,
        bundle: Sequence[str],
        index_url: str,
        tools: Tools | None,
        console: Console,
        timeout: float,
        smoke: bool,
        scenarios: Sequence[str] = SCENARIOS,
        scaling: bool = False,
    ) -> None:
        self.workdir = workdir
        self.scaling = scaling
        self.scenarios = SCALING_SCENARIOS if scaling else tuple(scenarios)
        self.pins: dict[str, int] = {}  # pins of each set's one-target lock
        self.bundle = tuple(bundle)
        self.index_url = index_url
        self.tools = tools
        self.console = console
        self.timeout = timeout
        self.smoke = smoke
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self._count = 0

    # -- plumbing -------------------------------------------------------------

    def _scratch(self, label: str) -> tuple[Path, Path]:
        """A fresh directory for one run, and the log of its output."""
        self._count += 1
        slug = "".join(c if c.isalnum() else "-" for c in label)
        scratch = self.workdir / "runs" / f"{self._count:04d}-{slug}"
        scratch.mkdir(parents=True)
        return scratch, self.logs / f"{self._count:04d}-{slug}.log"

    def _setup(self, label: str, argv: Sequence[str], env: Mapping[str, str]) -> None:
        """An untimed preparation command that must succeed."""
        _, log = self._scratch(label)
        code, _, _ = run_measured(argv, env=env, cwd=self.workdir, log=log, timeout=self.timeout)
        if code != 0:
            raise HarnessError(f"{label} failed (exit code {code}): {_tail(log, 20)}")

    def _bundle(self, command: str, *args: str | Path, cache: Path) -> tuple[str, ...]:
        """``bundle COMMAND ARGS`` with a given cache, against the benchmark's index."""
        tail = ["--cache-dir", str(cache), "--quiet"]
        if command != "verify":
            tail += ["-i", self.index_url]
        return (*self.bundle, command, *(str(a) for a in args), *tail)

    def _pip_download(self, *args: str | Path, dest: Path, cache: Path) -> tuple[str, ...]:
        assert self.tools is not None
        return (
            *(str(self.tools.python), "-m", "pip", "--isolated", "--disable-pip-version-check"),
            *("download", "-d", str(dest), "--cache-dir", str(cache)),
            *("--index-url", self.index_url, "--quiet", "--progress-bar", "off"),
            *(str(a) for a in args),
        )

    # -- preparation ------------------------------------------------------------

    def prepare(self, name: str, requirements: Sequence[str]) -> Workload:
        """Lock and download once (untimed), and warm the caches of the warm rows."""
        root = self.workdir / "sets" / name
        root.mkdir(parents=True)
        w = Workload(
            name=name,
            root=root,
            requirements=root / "requirements.in",
            lock=root / "requirements.txt",
            pylock=root / "pylock.toml",
            pins=root / "pins.txt",
            reference=root / "reference",
            urls=root / "urls.json",
            bundle_cache=root / "bundle-cache",
            uv_cache=root / "uv-cache",
            pip_tools_home=root / "pip-tools-home",
        )
        w.requirements.write_text("".join(f"{r}\n" for r in requirements), encoding="utf-8")
        env = scrubbed_env(root / "xdg")
        if self.scaling:
            return self._prepare_scaling(w, env)
        self.console.print(f"[dim]{name}: locking and downloading once to prepare…[/dim]")
        lock = self._bundle("lock", w.requirements, "-o", w.lock, cache=w.bundle_cache)
        self._setup(f"{name}-setup-lock", lock, env)
        pylock = self._bundle("lock", w.requirements, "-o", w.pylock, cache=w.bundle_cache)
        self._setup(f"{name}-setup-pylock", pylock, env)
        download = self._bundle("download", w.lock, "-o", w.reference, cache=root / "cache")
        self._setup(f"{name}-setup-download", download, env)
        pins = plain_pins(w.lock.read_text(encoding="utf-8"))
        w.pins.write_text("".join(f"{p}\n" for p in pins), encoding="utf-8")
        with requests.Session() as session:
            urls = locate_urls(w.reference, session)
        w.urls.write_text(json.dumps(urls, indent=1), encoding="utf-8")
        # Warm the peers' caches the way the first run of the day would.
        for c in self.contenders(w):
            if c.scenario == "lock-warm" and not c.bundler and not c.skipped:
                scratch, log = self._scratch(f"{name}-warmup-{c.tool}")
                run_step(c.make(scratch), cwd=scratch, log=log, timeout=self.timeout)
                shutil.rmtree(scratch, ignore_errors=True)
        return w

    def _prepare_scaling(self, w: Workload, env: Mapping[str, str]) -> Workload:
        """Lock once for one target and for 16 (untimed): the pins, and the
        warm caches of bundler and uv for both."""
        self.console.print(f"[dim]{w.name}: locking once to prepare…[/dim]")
        lock = self._bundle("lock", w.requirements, "-o", w.lock, cache=w.bundle_cache)
        self._setup(f"{w.name}-setup-lock", lock, env)
        self.pins[w.name] = len(plain_pins(w.lock.read_text(encoding="utf-8")))
        for c in self.scaling_contenders(w):
            if c.scenario.startswith("lock-warm") and not c.skipped:
                scratch, log = self._scratch(f"{w.name}-warmup-{c.scenario}-{c.tool}")
                outcome = run_step(c.make(scratch), cwd=scratch, log=log, timeout=self.timeout)
                shutil.rmtree(scratch, ignore_errors=True)
                if not outcome.ok and c.bundler:
                    raise HarnessError(f"{w.name} {c.scenario} warm-up failed: {outcome.detail}")
        return w

    def scaling_contenders(self, w: Workload) -> list[Contender]:
        """bundle lock and uv pip compile, cold and warm, one target and 16.

        One target is this interpreter on this machine.  16 targets: bundler
        locks the 4 platforms x 4 Pythons of the multi-target row in one
        command; uv's peer is ``uv pip compile --universal``, its one command
        for one lock that holds on every platform and Python from the lowest
        one up (16 separate runs would give 16 locks, not one, and share
        nothing but the cache).  Both take wheels only.
        """
        uv = self.tools.uv if self.tools else None
        missing = "" if uv else "uv not available"
        flags = [f for p in PLATFORMS for f in ("--platform", p)]
        flags += [f for v in PYTHONS for f in ("--python-version", v)]
        binary = ("--only-binary", ":all:")

        def bundle_lock(warm: bool, targets: int) -> Callable[[Path], Step]:
            def make(d: Path) -> Step:
                cache = w.bundle_cache if warm else d / "cache"
                extra = (*flags, *binary) if targets > 1 else ()
                argv = self._bundle(
                    "lock", w.requirements, "-o", d / "lock.txt", *extra, cache=cache
                )
                return Step((argv,), scrubbed_env(d / "xdg"))

            return make

        def uv_lock(warm: bool, targets: int) -> Callable[[Path], Step]:
            def make(d: Path) -> Step:
                assert uv is not None
                cache = w.uv_cache if warm else d / "cache"
                # With --python always: uv looks for an interpreter of the
                # --python-version, and where none is on the PATH it tries to
                # download one (seconds of retries when it cannot).
                target: tuple[str, ...] = ("--python", sys.executable)
                if targets > 1:
                    target += ("--universal", "--python-version", PYTHONS[0], *binary)
                argv = (
                    *(str(uv), "pip", "compile", str(w.requirements), "--generate-hashes"),
                    *("-o", str(d / "lock.txt"), "--cache-dir", str(cache), *target),
                    *("--index-url", self.index_url, "--quiet"),
                )
                return Step((argv,), scrubbed_env(d / "xdg"))

            return make

        found: list[Contender] = []
        for scenario in SCALING_SCENARIOS:
            warm = scenario.startswith("lock-warm")
            targets = int(scenario.rsplit("-", 1)[1])
            found.append(Contender(scenario, BUNDLE, True, bundle_lock(warm, targets)))
            found.append(Contender(scenario, UV, False, uv_lock(warm, targets), None, missing))
        return found

    # -- the contenders -----------------------------------------------------------

    def contenders(self, w: Workload) -> list[Contender]:  # noqa: C901
        """Every tool of every scenario for one workload, bundle first."""
        peerless = "" if self.tools else "peers disabled"

        def bundle_lock(warm: bool, *extra: str) -> Callable[[Path], Step]:
            def make(d: Path) -> Step:
                cache = w.bundle_cache if warm else d / "cache"
                argv = self._bundle(
                    "lock", w.requirements, "-o", d / "lock.txt", *extra, cache=cache
                )
                return Step((argv,), scrubbed_env(d / "xdg"))

            return make

        def bundle_download(lock: Path) -> Callable[[Path], Step]:
            def make(d: Path) -> Step:
                argv = self._bundle("download", lock, "-o", d / "bundle", cache=d / "cache")
                return Step((argv,), scrubbed_env(d / "xdg"))

            return make

        def pip_download(d: Path) -> Step:
            argv = self._pip_download(
                "--no-deps", "-r", w.pins, dest=d / "files", cache=d / "cache"
            )
            return Step((argv,), scrubbed_env(d / "xdg"))

        def plain(d: Path) -> Step:
            here = str(Path(__file__).resolve())
            argv = (sys.executable, here, "_fetch", str(w.urls), str(d / "files"))
            return Step((argv,), scrubbed_env(d / "xdg"))

        def bundle_verify(d: Path) -> Step:
            argv = self._bundle("verify", w.reference, cache=d / "cache")
            return Step((argv,), scrubbed_env(d / "xdg"))

        def venv_pip(d: Path) -> Step:
            make_venv = (sys.executable, "-m", "venv", str(d / "venv"))
            install = (
                *(str(_bin(d / "venv", "pip")), "--isolated", "--disable-pip-version-check"),
                *("install", "--quiet", "--no-index", "--require-hashes"),
                *("--find-links", str(w.reference / "files")),
                *("-r", str(w.reference / "requirements.txt")),
            )
            return Step((make_venv, install), scrubbed_env(d / "xdg"))

        def multi(lock_name: str) -> Callable[[Path], Step]:
            def make(d: Path) -> Step:
                flags = [f for p in PLATFORMS for f in ("--platform", p)]
                flags += [f for v in PYTHONS for f in ("--python-version", v)]
                lock, cache = d / lock_name, d / "cache"
                # Wheels only, as the pip loop asks for: no target builds an sdist.
                binary = ("--only-binary", ":all:")
                return Step(
                    (
                        self._bundle(
                            "lock", w.requirements, "-o", lock, *flags, *binary, cache=cache
                        ),
                        self._bundle("download", lock, "-o", d / "bundle", *flags, cache=cache),
                    ),
                    scrubbed_env(d / "xdg"),
                )

            return make

        def pip_loop(d: Path) -> Step:
            commands: list[tuple[str, ...]] = []
            for plat in PLATFORMS:
                for version in PYTHONS:
                    target = [f for tag in PIP_PLATFORMS[plat] for f in ("--platform", tag)]
                    target += ["--python-version", version, "--only-binary=:all:"]
                    args = (*target, "-r", str(w.requirements))
                    commands.append(self._pip_download(*args, dest=d / "files", cache=d / "cache"))
            return Step(tuple(commands), scrubbed_env(d / "xdg"), keep_going=True)

        def files(d: Path) -> int:
            return dir_bytes(d / "files")

        def bundled(d: Path) -> int:
            return bundle_bytes(d / "bundle")

        slow = SLOW_IN_SMOKE if self.smoke else ""
        return [
            Contender("lock-cold", BUNDLE, True, bundle_lock(False)),
            self._uv(w, "lock-cold", warm=False),
            self._pip_compile(w, "lock-cold", warm=False),
            Contender("lock-warm", BUNDLE, True, bundle_lock(True)),
            self._uv(w, "lock-warm", warm=True),
            self._pip_compile(w, "lock-warm", warm=True),
            Contender("lock-offline-warm", BUNDLE, True, bundle_lock(True, "--offline")),
            # The plain downloader is handed every URL; so is bundle by a
            # pylock.toml.  From a requirements.txt it reads the pages first.
            Contender("download", BUNDLE, True, bundle_download(w.pylock), bundled),
            Contender("download", BUNDLE_REQS, True, bundle_download(w.lock), bundled),
            Contender("download", PIP_DOWNLOAD, False, pip_download, files, peerless),
            Contender("download", PLAIN, False, plain, files, peerless),
            Contender("verify", BUNDLE, True, bundle_verify),
            Contender("verify", VENV_PIP, False, venv_pip, None, peerless or slow),
            Contender("multi-target", BUNDLE, True, multi("pylock.toml"), bundled),
            Contender("multi-target", BUNDLE_REQS, True, multi("requirements.txt"), bundled),
            Contender("multi-target", PIP_LOOP, False, pip_loop, files, peerless or slow),
        ]

    def _uv(self, w: Workload, scenario: str, *, warm: bool) -> Contender:
        uv = self.tools.uv if self.tools else None

        def make(d: Path) -> Step:
            assert uv is not None
            cache = w.uv_cache if warm else d / "cache"
            argv = (
                *(str(uv), "pip", "compile", str(w.requirements), "--generate-hashes"),
                *("-o", str(d / "lock.txt"), "--cache-dir", str(cache)),
                *("--python", sys.executable, "--index-url", self.index_url, "--quiet"),
            )
            return Step((argv,), scrubbed_env(d / "xdg"))

        return Contender(scenario, UV, False, make, None, "" if uv else "uv not available")

    def _pip_compile(self, w: Workload, scenario: str, *, warm: bool) -> Contender:
        pc = self.tools.pip_compile if self.tools else None

        def make(d: Path) -> Step:
            assert pc is not None
            home = w.pip_tools_home if warm else d / "xdg"
            argv = (
                *(str(pc), "--generate-hashes", "-o", str(d / "lock.txt")),
                *("--cache-dir", str(home / "pip-tools"), "--index-url", self.index_url),
                *("--quiet", str(w.requirements)),
            )
            # XDG_CACHE_HOME moves pip's HTTP cache along with pip-tools' own.
            return Step((argv,), scrubbed_env(home))

        why = "" if pc else "pip-compile not available"
        if not why and self.smoke:
            why = SLOW_IN_SMOKE
        return Contender(scenario, PIP_COMPILE, False, make, None, why)

    # -- the rounds ---------------------------------------------------------------

    def run(self, workloads: Sequence[Workload], rounds: int) -> list[Row]:
        """Every contender, ``rounds`` times, alternating; one row per contender."""
        every = self.scaling_contenders if self.scaling else self.contenders
        plan = {w.name: [c for c in every(w) if c.scenario in self.scenarios] for w in workloads}
        rows = {
            (w.name, c.scenario, c.tool): Row(
                w.name, c.scenario, c.tool, c.bundler, skipped=c.skipped
            )
            for w in workloads
            for c in plan[w.name]
        }
        for r in range(rounds):
            for w in workloads:
                for scenario in self.scenarios:
                    group = [c for c in plan[w.name] if c.scenario == scenario and not c.skipped]
                    # Rotate who goes first, so that no tool always meets a cold CDN.
                    shift = r % len(group) if group else 0
                    for c in group[shift:] + group[:shift]:
                        outcome = self._measure(w, c, f"round {r + 1}/{rounds}")
                        rows[w.name, c.scenario, c.tool].outcomes.append(outcome)
        return list(rows.values())

    def _measure(self, w: Workload, c: Contender, when: str) -> Outcome:
        scratch, log = self._scratch(f"{w.name}-{c.scenario}-{c.tool}")
        try:
            outcome = run_step(c.make(scratch), cwd=scratch, log=log, timeout=self.timeout)
            if outcome.ok and c.size is not None:
                try:
                    outcome = replace(outcome, size=c.size(scratch))
                except (OSError, ValueError, KeyError) as err:
                    outcome = replace(outcome, ok=False, detail=f"no output: {err}")
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
        mark = "[green]ok[/green]" if outcome.ok else f"[red]failed[/red] {outcome.detail}"
        self.console.print(
            f"[dim]{when}[/dim] {w.name} {c.scenario} [bold]{c.tool}[/bold]"
            f" {outcome.seconds:.2f} s {mark}",
            highlight=False,
        )
        return outcome


# --- results ------------------------------------------------------------------------


def _find(rows: Sequence[Row], set_name: str, scenario: str, tool: str) -> Row | None:
    for row in rows:
        if (row.set_name, row.scenario, row.tool) == (set_name, scenario, tool):
            return row
    return None


def vs_bundle(rows: Sequence[Row], row: Row) -> float | None:
    """How many times bundle's median time this row's median time is."""
    mine = _find(rows, row.set_name, row.scenario, BUNDLE)
    if mine is None or mine.median is None or row.median is None or mine.median == 0:
        return None
    return row.median / mine.median


@dataclass(frozen=True)
class Verdict:
    set_name: str
    goal: Goal
    value: float | None
    met: bool | None  # None: not measurable here (a peer skipped or failed)


def judge(rows: Sequence[Row], set_name: str, goal: Goal) -> Verdict:  # noqa: PLR0911
    if goal.kind == "memory":
        peaks = [r.max_rss for r in rows if r.set_name == set_name and r.bundler and r.max_rss]
        if not peaks:
            return Verdict(set_name, goal, None, None)
        value = max(p for p in peaks if p is not None) / MB
        return Verdict(set_name, goal, value, value < goal.limit)
    if goal.kind == "memory-ratio":
        # The largest peak of either contender over every row of the set.
        def peak(tool: str) -> int | None:
            values = [r.max_rss for r in rows if r.set_name == set_name and r.tool == tool]
            found = [v for v in values if v is not None]
            return max(found) if found else None

        ours, theirs = peak(BUNDLE), peak(goal.peer)
        if ours is None or not theirs:
            return Verdict(set_name, goal, None, None)
        return Verdict(set_name, goal, ours / theirs, ours / theirs <= goal.limit)
    mine = _find(rows, set_name, goal.scenario, BUNDLE)
    if mine is None or mine.median is None:
        return Verdict(set_name, goal, None, None)
    if goal.kind == "seconds":
        return Verdict(set_name, goal, mine.median, mine.median < goal.limit)
    peer = _find(rows, set_name, goal.scenario, goal.peer)
    if peer is None or peer.median is None:
        return Verdict(set_name, goal, None, None)
    if goal.kind == "time":
        value = mine.median / peer.median
        return Verdict(set_name, goal, value, value <= goal.limit)
    if goal.kind == "speedup":
        value = peer.median / mine.median
        return Verdict(set_name, goal, value, value >= goal.limit)
    if mine.speed is None or peer.speed is None:
        return Verdict(set_name, goal, None, None)
    value = mine.speed / peer.speed
    return Verdict(set_name, goal, value, value >= goal.limit)


def _fmt_value(v: Verdict) -> str:  # noqa: PLR0911
    if v.value is None:
        return "n/a"
    if v.goal.kind == "seconds":
        return f"{v.value:.2f} s"
    if v.goal.kind == "memory":
        return f"{v.value:.0f} MB"
    if v.goal.kind == "memory-ratio":
        return f"{v.value:.2f}x the peak RSS"
    if v.goal.kind == "throughput":
        return f"{v.value:.2f}x the MB/s"
    if v.goal.kind == "speedup":
        return f"{v.value:.1f}x faster"
    return f"{v.value:.2f}x the time"


def memory_rows(rows: Sequence[Row]) -> list[dict[str, Any]]:
    """Peak RSS of each bundler command per set."""
    commands = {
        "lock-cold": "bundle lock",
        "lock-warm": "bundle lock",
        "lock-offline-warm": "bundle lock --offline",
        "download": "bundle download",
        "verify": "bundle verify",
        "multi-target": "bundle lock + download (16 targets)",
    }
    peaks: dict[tuple[str, str], int] = {}
    for row in rows:
        if row.bundler and row.max_rss is not None:
            command = commands.get(row.scenario, f"bundle lock ({row.scenario})")
            key = (row.set_name, command)
            peaks[key] = max(peaks.get(key, 0), row.max_rss)
    return [
        {"set": s, "command": c, "max_rss_mb": round(v / MB, 1)}
        for (s, c), v in sorted(peaks.items())
    ]


def render(console: Console, rows: Sequence[Row], verdicts: Sequence[Verdict], rounds: int) -> None:
    table = Table(title=f"medians of {rounds} round(s)")
    for name, justify in (
        ("set", "left"),
        ("scenario", "left"),
        ("tool", "left"),
        ("median s", "right"),
        ("min-max s", "right"),
        ("MB/s", "right"),
        ("peak RSS MB", "right"),
        ("x bundle time", "right"),
        ("status", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        times = [o.seconds for o in row.outcomes if o.ok]
        ratio = vs_bundle(rows, row)
        status = {"ok": "[green]ok[/green]", "failed": "[red]failed[/red]"}.get(
            row.status, "[yellow]skipped[/yellow]"
        )
        if row.detail:
            status += f" {row.detail[:60]}"
        table.add_row(
            row.set_name,
            row.scenario,
            f"[bold]{row.tool}[/bold]" if row.bundler else row.tool,
            "—" if row.median is None else f"{row.median:.2f}",
            f"{min(times):.2f}-{max(times):.2f}" if times else "—",
            "" if row.speed is None else f"{row.speed:.{1 if row.speed >= 1 else 3}f}",
            "" if row.max_rss is None else f"{row.max_rss / MB:.0f}",
            "" if ratio is None or row.bundler else f"{ratio:.2f}x",
            status,
        )
    console.print(table)
    memory = Table(title="peak memory (max RSS) of bundler commands")
    memory.add_column("set")
    memory.add_column("command")
    memory.add_column("MB", justify="right")
    for m in memory_rows(rows):
        memory.add_row(m["set"], m["command"], f"{m['max_rss_mb']:.0f}")
    console.print(memory)
    goals = Table(title="targets")
    goals.add_column("set")
    goals.add_column("goal")
    goals.add_column("measured", justify="right")
    goals.add_column("met")
    goals.add_column("stated for")
    for v in verdicts:
        if v.met is None:
            met = "[yellow]n/a[/yellow]"
        else:
            met = "[green]met[/green]" if v.met else "[red]not met[/red]"
        stated = "this set" if v.set_name == v.goal.reference else ""
        goals.add_row(v.set_name, v.goal.text, _fmt_value(v), met, stated)
    console.print(goals)


def scaling_rows(rows: Sequence[Row], pins: Mapping[str, int]) -> list[dict[str, Any]]:
    """One line per set, target count and cache: bundler beside uv."""
    lines: list[dict[str, Any]] = []
    sets = list(dict.fromkeys(r.set_name for r in rows))
    for set_name in sets:
        for scenario in SCALING_SCENARIOS:
            mine = _find(rows, set_name, scenario, BUNDLE)
            peer = _find(rows, set_name, scenario, UV)
            if mine is None:
                continue
            ours, theirs = mine.median, peer.median if peer else None
            ours_mb, theirs_mb = mine.max_rss, peer.max_rss if peer else None
            lines.append(
                {
                    "set": set_name,
                    "pins": pins.get(set_name),
                    "targets": int(scenario.rsplit("-", 1)[1]),
                    "cache": "warm" if scenario.startswith("lock-warm") else "cold",
                    "bundle_s": None if ours is None else round(ours, 4),
                    "uv_s": None if theirs is None else round(theirs, 4),
                    "time_ratio": None if not (ours and theirs) else round(ours / theirs, 3),
                    "bundle_mb": None if ours_mb is None else round(ours_mb / MB, 1),
                    "uv_mb": None if theirs_mb is None else round(theirs_mb / MB, 1),
                    "memory_ratio": (
                        None if not (ours_mb and theirs_mb) else round(ours_mb / theirs_mb, 3)
                    ),
                    "status": mine.status if peer is None else f"{mine.status}/{peer.status}",
                    "detail": mine.detail or (peer.detail if peer else ""),
                }
            )
    return lines


def render_scaling(
    console: Console,
    lines: Sequence[Mapping[str, Any]],
    verdicts: Sequence[Verdict],
    rounds: int,
) -> None:
    def num(value: float | None, fmt: str) -> str:
        return "—" if value is None else format(value, fmt)

    table = Table(title=f"lock scaling, bundle beside uv pip compile (medians of {rounds})")
    for name in ("set", "pins", "targets", "cache", "bundle s", "uv s", "x uv", "bundle MB"):
        table.add_column(name, justify="left" if name in ("set", "cache") else "right")
    table.add_column("uv MB", justify="right")
    table.add_column("x uv MB", justify="right")
    table.add_column("status")
    for line in lines:
        table.add_row(
            line["set"],
            num(line["pins"], "d"),
            str(line["targets"]),
            line["cache"],
            num(line["bundle_s"], ".2f"),
            num(line["uv_s"], ".2f"),
            num(line["time_ratio"], ".2f"),
            num(line["bundle_mb"], ".0f"),
            num(line["uv_mb"], ".0f"),
            num(line["memory_ratio"], ".2f"),
            line["status"] + (f" {line['detail'][:50]}" if line["detail"] else ""),
        )
    console.print(table)
    goals = Table(title="targets (one target; peak memory over every lock row of the set)")
    goals.add_column("set")
    goals.add_column("goal")
    goals.add_column("measured", justify="right")
    goals.add_column("met")
    for v in verdicts:
        if v.met is None:
            met = "[yellow]n/a[/yellow]"
        else:
            met = "[green]met[/green]" if v.met else "[red]not met[/red]"
        goals.add_row(v.set_name, v.goal.text, _fmt_value(v), met)
    console.print(goals)


def to_json(
    rows: Sequence[Row],
    verdicts: Sequence[Verdict],
    *,
    header: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        **header,
        "rows": [row.to_json(None if row.bundler else vs_bundle(rows, row)) for row in rows],
        "memory": memory_rows(rows),
        "targets": [
            {
                "set": v.set_name,
                "goal": v.goal.text,
                "value": None if v.value is None else round(v.value, 4),
                "limit": v.goal.limit,
                "met": v.met,
                "stated_for_this_set": v.set_name == v.goal.reference,
            }
            for v in verdicts
        ],
    }


def write_json(path: Path, payload: Mapping[str, Any]) -> None:
    """Write to a temp file beside ``path``, then replace: never half a file."""
    text = json.dumps(payload, indent=2, sort_keys=True) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise


# --- the local index of the smoke mode --------------------------------------------------


@contextmanager
def smoke_index(directory: Path) -> Iterator[tuple[str, dict[str, tuple[str, ...]]]]:
    """A tiny index on 127.0.0.1 from distributions built here; yields its
    URL and the input set that exercises it."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    from tests.support.distbuilder import DistSpec, build_all  # noqa: PLC0415
    from tests.support.indexserver import IndexServer  # noqa: PLC0415

    platform_tags = (
        "py3-none-manylinux_2_17_x86_64.manylinux2014_x86_64",
        "py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64",
        "py3-none-macosx_11_0_arm64",
        "py3-none-win_amd64",
    )
    specs = [
        DistSpec(
            "smoke-app",
            "1.0",
            requires=("smoke-lib>=1", "smoke-util[fast]", 'smoke-win; sys_platform == "win32"'),
        ),
        DistSpec("smoke-lib", "1.0"),
        DistSpec("smoke-lib", "2.0", requires=("smoke-util>=1",)),
        DistSpec("smoke-util", "1.0", extras={"fast": ("smoke-fast",)}),
        DistSpec("smoke-fast", "1.0", wheel_tags=platform_tags),
        DistSpec("smoke-win", "1.0", requires_python=">=3.8"),
    ]
    directory.mkdir(parents=True, exist_ok=True)
    build_all(specs, directory)
    server = IndexServer(directory).start()
    try:
        yield server.url, {"tiny": ("smoke-app",)}
    finally:
        server.stop()


# --- the command line ----------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="benchmarks/run.py",
        description="Benchmark bundler against uv, pip-compile, pip and a plain downloader.",
        epilog="example:\n  python benchmarks/run.py --set small,web --rounds 3 --json out.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--set",
        default=None,
        help=f"comma-separated input sets among {', '.join(SETS)} (default:"
        f" {', '.join(DEFAULT_SETS)}; with --scaling, all)",
    )
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument(
        "--scenario",
        default=",".join(SCENARIOS),
        help=f"comma-separated scenarios among {', '.join(SCENARIOS)} (default: all)",
    )
    parser.add_argument("--json", type=Path, metavar="FILE", help="also write the results here")
    parser.add_argument(
        "--scaling",
        action="store_true",
        help="lock only, 1 and 16 targets, cold and warm, beside uv, on small, web, datasci"
        " and large (or --set), with the scaling targets",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="every bundler scenario against a local index of tiny distributions (no internet)",
    )
    parser.add_argument("--no-peers", action="store_true", help="run bundler only")
    parser.add_argument(
        "--bundle",
        default=None,
        metavar="COMMAND",
        help="how to run bundler (default: installed from this checkout into"
        " benchmarks/.tools/bundler-venv; with --smoke, this interpreter's 'python -m bundler')",
    )
    parser.add_argument("--index-url", default=PYPI, help=f"index every tool uses (default {PYPI})")
    parser.add_argument(
        "--workdir", type=Path, help="keep scratch files and logs here (default: a temp dir)"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800, help="seconds per command (default 1800)"
    )
    parser.add_argument(
        "--s3",
        action="store_true",
        help="only the S3 publish rows, against SeaweedFS on 127.0.0.1 (no internet)",
    )
    parser.add_argument(
        "--publish",
        action="store_true",
        help="only the re-publish and post-publish gate rows, on 127.0.0.1 (no internet)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:  # noqa: C901, PLR0912
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["_fetch"]:  # the plain downloader, run as a child
        return _fetch_main(args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    out = Console(highlight=False)
    if not out.is_terminal:
        out = Console(highlight=False, width=150)  # a file or a pipe: room for the table
    progress = Console(stderr=True, highlight=False)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if args.s3:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from benchmarks.s3publish import run as run_s3  # noqa: PLC0415

        return run_s3(args.rounds, out)
    if args.publish:
        if str(REPO) not in sys.path:
            sys.path.insert(0, str(REPO))
        from benchmarks.publish import run as run_publish  # noqa: PLC0415

        return run_publish(args.rounds, out)
    chosen = args.set or ",".join(SETS if args.scaling else DEFAULT_SETS)
    names = [n.strip() for n in chosen.split(",") if n.strip()]
    unknown = [n for n in names if n not in SETS]
    if unknown and not args.smoke:
        parser.error(f"unknown set(s): {', '.join(unknown)}; choose among {', '.join(SETS)}")
    scenarios = [s.strip() for s in args.scenario.split(",") if s.strip()]
    bad = [s for s in scenarios if s not in SCENARIOS]
    if bad or not scenarios:
        named = ", ".join(bad) or "(none)"
        parser.error(f"unknown scenario(s): {named}; choose among {', '.join(SCENARIOS)}")
    args.scenarios = tuple(s for s in SCENARIOS if s in scenarios)
    if args.bundle:
        bundle = shlex.split(args.bundle)
    elif args.smoke:
        # No internet to install from: this interpreter's bundler.
        bundle = [sys.executable, "-m", "bundler"]
        precompile_bundler()
    else:
        try:
            bundle = install_bundler(progress)
        except HarnessError as err:
            progress.print(f"[red]error:[/red] {err}", highlight=False)
            return 1

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bundler-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        return _run(args, names, bundle, workdir, out, progress)
    except HarnessError as err:
        progress.print(f"[red]error:[/red] {err}", highlight=False)
        return 1
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


def precompile_bundler() -> None:
    """Write bundler's bytecode, as ``pip install`` does for the peers: an
    editable checkout run with PYTHONDONTWRITEBYTECODE set (as on some CI
    machines) would otherwise compile every module on every run."""
    import compileall  # noqa: PLC0415

    import bundler  # noqa: PLC0415

    compileall.compile_dir(Path(bundler.__file__).parent, quiet=1)


def _run(
    args: argparse.Namespace,
    names: Sequence[str],
    bundle: Sequence[str],
    workdir: Path,
    out: Console,
    progress: Console,
) -> int:
    with _index(args.smoke, workdir) as (local_url, smoke_sets):
        if args.smoke:
            tools = None if args.no_peers else local_tools()
            sets = smoke_sets
            index_url = local_url
        else:
            tools = None if args.no_peers else ensure_tools(progress)
            sets = {n: SETS[n] for n in names}
            index_url = args.index_url
        if tools is not None:
            versions = _versions(tools, bundle)
        else:
            versions = {"bundle": _version_of([*bundle, "--version"])}
        header: dict[str, Any] = {
            "machine": machine_info(),
            "tools": versions,
            "rounds": args.rounds,
            "smoke": args.smoke,
            "index_url": index_url,
            "sets": {n: list(reqs) for n, reqs in sets.items()},
        }
        m = header["machine"]
        out.print(
            f"[bold]bundler benchmarks[/bold] · {m['cpu']} · {m['nproc']} CPUs · {m['python']}"
            f" · {m['os']}"
        )
        out.print("tools: " + ", ".join(f"{k} {v}" for k, v in versions.items()), soft_wrap=True)
        out.print(f"index: {index_url} · sets: {', '.join(sets)} · rounds: {args.rounds}")

        bench = Bench(
            workdir=workdir,
            bundle=bundle,
            index_url=index_url,
            tools=tools,
            console=progress,
            timeout=args.timeout,
            smoke=args.smoke,
            scenarios=args.scenarios,
            scaling=args.scaling,
        )
        workloads = [bench.prepare(name, reqs) for name, reqs in sets.items()]
        rows = bench.run(workloads, args.rounds)

    if args.scaling:
        verdicts = [
            judge(rows, w.name, g)
            for g in SCALING_GOALS
            for w in workloads
            if goal_applies(g, w.name)
        ]
        lines = scaling_rows(rows, bench.pins)
        render_scaling(out, lines, verdicts, args.rounds)
        if args.json is not None:
            payload = to_json(rows, verdicts, header=header)
            write_json(args.json, {**payload, "scaling": lines, "pins": bench.pins})
    else:
        verdicts = [judge(rows, w.name, g) for w in workloads for g in GOALS]
        render(out, rows, verdicts, args.rounds)
        if args.json is not None:
            write_json(args.json, to_json(rows, verdicts, header=header))
    # bundler must succeed everywhere; in the smoke check the local peers must too.
    failed = [r for r in rows if r.status == "failed" and (r.bundler or args.smoke)]
    for r in failed:
        progress.print(f"[red]failed:[/red] {r.set_name} {r.scenario} {r.tool}: {r.detail}")
    return 1 if failed else 0


@contextmanager
def _index(smoke: bool, workdir: Path) -> Iterator[tuple[str, dict[str, tuple[str, ...]]]]:
    """The local index in the smoke check; nothing otherwise."""
    if not smoke:
        yield "", {}
        return
    with smoke_index(workdir / "index-files") as served:
        yield served


if __name__ == "__main__":
    sys.exit(main())
