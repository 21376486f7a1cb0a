"""The verify stamp: ``bundle verify`` records its verdict in the bundle,
naming the manifest it was reached on."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bundler.bundle.layout import STAMP_NAME
from bundler.cli.main import run
from bundler.errors import BundlerError
from bundler.gate.stamp import Stamp, check_stamp, stamp_from_json, stamp_to_json
from tests.support import DistSpec, IndexServer, build_all

UNIVERSE = [DistSpec("webby", "1.0", requires=("helper>=2",)), DistSpec("helper", "2.0")]


@pytest.fixture
def bundle(tmp_path: Path) -> Path:
    build_all(UNIVERSE, tmp_path / "dists")
    (tmp_path / "requirements.in").write_text("webby\n")
    out = tmp_path / "pypi"
    with IndexServer(tmp_path / "dists") as index:
        argv = ["build", str(tmp_path / "requirements.in"), "-o", str(out), "-i", index.url]
        assert run([*argv, "--no-install", "--quiet"]) == 0
    return out


def test_verify_stamps_the_manifest_it_passed(bundle: Path) -> None:
    (bundle / STAMP_NAME).unlink()
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 0
    doc = json.loads((bundle / STAMP_NAME).read_text())
    digest = hashlib.sha256((bundle / "bundle.json").read_bytes()).hexdigest()
    assert doc["manifest-sha256"] == digest
    assert doc["result"] == "passed"
    assert doc["targets"] and doc["bundler"] and doc["verified-at"].endswith("Z")
    assert check_stamp(bundle, digest).passed
    # The stamp is the gate's own file: verifying again still passes.
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 0


def test_a_failed_verify_stamps_failed(bundle: Path) -> None:
    wheel = next((bundle / "files").glob("helper-*.whl"))
    wheel.write_bytes(wheel.read_bytes() + b"x")
    assert run(["verify", str(bundle), "--no-install", "--quiet"]) == 1
    digest = hashlib.sha256((bundle / "bundle.json").read_bytes()).hexdigest()
    with pytest.raises(BundlerError, match="failed `bundle verify`"):
        check_stamp(bundle, digest)


def test_a_stamp_of_another_manifest_is_stale(bundle: Path) -> None:
    with pytest.raises(BundlerError, match="stale"):
        check_stamp(bundle, "0" * 64)


def test_no_stamp_and_a_garbage_stamp_are_refused(bundle: Path) -> None:
    digest = hashlib.sha256((bundle / "bundle.json").read_bytes()).hexdigest()
    (bundle / STAMP_NAME).write_text("{not json")
    with pytest.raises(BundlerError, match="not a verify stamp"):
        check_stamp(bundle, digest)
    (bundle / STAMP_NAME).unlink()
    with pytest.raises(BundlerError, match="has not passed"):
        check_stamp(bundle, digest)


def test_the_stamp_round_trips() -> None:
    stamp = Stamp(
        "a" * 64, "passed", ("cp312-manylinux_2_17_x86_64",), {"t": ("pip 25.0",)}, "0.1", "x"
    )
    assert stamp_from_json(stamp_to_json(stamp), "s") == stamp
