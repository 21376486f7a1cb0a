"""The bundle's CycloneDX SBOM: written by `bundle download` and `bundle sbom`,
valid against the CycloneDX 1.6 schema, and checked by the gate."""

from __future__ import annotations

import copy
import dataclasses
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator

from bundler.bundle.manifest import manifest_from_json, manifest_to_json
from bundler.bundle.sbom import DeclaredLicense, declared_license, render_sbom
from bundler.bundle.sbomcheck import sbom_problems
from bundler.cli.main import run
from bundler.gate.verify import load_bundle
from tests.support import DistSpec
from tests.support.bundles import remove_project
from tests.support.distbuilder import build_all, build_wheel
from tests.support.indexserver import IndexConfig, IndexServer

SPECS = [
    DistSpec(
        "webapp",
        "1.0",
        requires=("framework>=2", "helper"),
        metadata_fields=("License-Expression: MIT OR Apache-2.0",),
    ),
    DistSpec(
        "framework",
        "2.0",
        metadata_fields=("Classifier: License :: OSI Approved :: BSD License",),
    ),
    DistSpec("helper", "1.0", requires=("util",), metadata_fields=("License: MIT",)),
    # sdist only, built with a backend requirement: a build-only package.
    DistSpec("util", "2.5", wheel=False, build_requires=("buildtool",)),
    DistSpec("buildtool", "1.0"),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One bundle of SPECS, built once for the module (tests get a copy)."""
    tmp = tmp_path_factory.mktemp("sbom")
    dists = tmp / "dists"
    build_all(SPECS, dists)
    server = IndexServer(dists, IndexConfig()).start()
    try:
        req = tmp / "requirements.in"
        req.write_text("webapp\n")
        out = tmp / "pypi"
        args = ["build", str(req), "-o", str(out), "-i", str(server.url), "--no-install"]
        assert run([*args, "--quiet"]) == 0
    finally:
        server.stop()
    return out


@pytest.fixture
def bundle(built: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "pypi"
    shutil.copytree(built, copy)
    return copy


def sbom(bundle: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((bundle / "sbom.cdx.json").read_text())
    return data


def components(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["purl"]: c for c in doc["components"]}


def verify(bundle: Path, tmp_path: Path) -> tuple[int, str]:
    """The exit code and every problem of `bundle verify --no-install`, one
    "subject: message" line each."""
    report = tmp_path / "verify.json"
    code = run(["verify", str(bundle), "--no-install", "--quiet", "--json", str(report)])
    problems = [
        f"{p['subject']}: {p['message']}"
        for r in json.loads(report.read_text())["results"]
        for p in r["problems"]
    ]
    return code, "\n".join(problems)


def test_download_writes_a_valid_cyclonedx_sbom(bundle: Path) -> None:
    text = (bundle / "sbom.cdx.json").read_text()
    errors = JsonStrictValidator(SchemaVersion.V1_6).validate_str(text, all_errors=True)
    assert errors is None, [str(e) for e in errors]
    doc = json.loads(text)
    assert doc["bomFormat"] == "CycloneDX" and doc["specVersion"] == "1.6"
    assert json.loads((bundle / "bundle.json").read_text())["sbom"] is True
    found = components(doc)
    assert set(found) == {
        "pkg:pypi/webapp@1.0",
        "pkg:pypi/framework@2.0",
        "pkg:pypi/helper@1.0",
        "pkg:pypi/util@2.5",
        "pkg:pypi/buildtool@1.0",
    }
    manifest = load_bundle(bundle)
    for a in manifest.artifacts:
        refs = found[f"pkg:pypi/{a.project}@{a.version}"]["externalReferences"]
        assert {
            "type": "distribution",
            "url": f"files/{a.filename}",
            "comment": a.kind.value,
            "hashes": [{"alg": "SHA-256", "content": a.sha256}],
        } in refs
    # Each component carries its files' sha256 itself, as scanners match.
    files: dict[str, list[str]] = {}
    for a in manifest.artifacts:
        files.setdefault(f"pkg:pypi/{a.project}@{a.version}", []).append(a.sha256)
    assert {
        purl: sorted(h["content"] for h in c["hashes"] if h["alg"] == "SHA-256")
        for purl, c in found.items()
    } == {purl: sorted(digests) for purl, digests in files.items()}
    webapp = found["pkg:pypi/webapp@1.0"]
    assert webapp["licenses"] == [
        {"expression": "MIT OR Apache-2.0", "acknowledgement": "declared"}
    ]
    assert found["pkg:pypi/framework@2.0"]["licenses"] == [
        {"license": {"name": "BSD License", "acknowledgement": "declared"}}
    ]
    assert found["pkg:pypi/helper@1.0"]["licenses"] == [
        {"license": {"id": "MIT", "acknowledgement": "declared"}}
    ]
    assert webapp["scope"] == "required"
    assert {"name": "bundler:target", "value": manifest.targets[0]} in webapp["properties"]
    build_tool = found["pkg:pypi/buildtool@1.0"]
    assert build_tool["scope"] == "excluded"
    assert {"name": "bundler:build-only", "value": "true"} in build_tool["properties"]
    graph = {d["ref"]: set(d.get("dependsOn", [])) for d in doc["dependencies"]}
    assert graph["bundle"] == {"pkg:pypi/webapp@1.0"}
    assert graph["pkg:pypi/webapp@1.0"] == {"pkg:pypi/framework@2.0", "pkg:pypi/helper@1.0"}
    assert graph["pkg:pypi/helper@1.0"] == {"pkg:pypi/util@2.5"}
    assert graph["pkg:pypi/util@2.5"] == {"pkg:pypi/buildtool@1.0"}


def test_the_sbom_command_gives_the_same_bytes_every_time(bundle: Path, tmp_path: Path) -> None:
    out = tmp_path / "bom.cdx.json"
    assert run(["sbom", str(bundle), "-o", str(out), "--quiet"]) == 0
    assert out.read_bytes() == (bundle / "sbom.cdx.json").read_bytes()
    first = out.read_bytes()
    assert run(["sbom", str(bundle), "-o", str(out), "--quiet"]) == 0
    assert out.read_bytes() == first
    doc = json.loads(first)
    assert doc["serialNumber"].startswith("urn:uuid:")
    assert doc["metadata"]["timestamp"] != ""


def test_the_sbom_command_refuses_a_directory_that_is_no_bundle(tmp_path: Path) -> None:
    assert run(["sbom", str(tmp_path / "nowhere"), "-o", str(tmp_path / "b.json")]) == 2
    assert run(["sbom", str(tmp_path), "-o", str(tmp_path / "b.json")]) == 1
    assert not (tmp_path / "b.json").exists()


def test_verify_passes_with_the_sbom_and_fails_when_it_is_tampered_with(
    bundle: Path, tmp_path: Path
) -> None:
    code, text = verify(bundle, tmp_path)
    assert code == 0, text
    doc = sbom(bundle)
    digest = "0" * 64
    for c in doc["components"]:
        if c["name"] == "framework":
            c["externalReferences"][0]["hashes"][0]["content"] = digest
    (bundle / "sbom.cdx.json").write_text(json.dumps(doc))
    code, text = verify(bundle, tmp_path)
    assert code == 1
    assert text.startswith("sbom.cdx.json: files/framework-2.0-py3-none-any.whl: sha256 " + digest)
    assert len(text.splitlines()) == 1


def test_verify_names_a_missing_component_and_a_missing_sbom(bundle: Path, tmp_path: Path) -> None:
    doc = sbom(bundle)
    doc["components"] = [c for c in doc["components"] if c["name"] != "helper"]
    (bundle / "sbom.cdx.json").write_text(json.dumps(doc))
    code, text = verify(bundle, tmp_path)
    assert code == 1
    assert "sbom.cdx.json: does not list pkg:pypi/helper@1.0" in text
    (bundle / "sbom.cdx.json").unlink()
    code, text = verify(bundle, tmp_path)
    assert code == 1
    assert text.startswith("sbom.cdx.json: missing")


def test_an_sbom_the_manifest_does_not_announce_is_unexpected(bundle: Path, tmp_path: Path) -> None:
    manifest_path = bundle / "bundle.json"
    doc = json.loads(manifest_path.read_text())
    doc["sbom"] = False
    manifest_path.write_text(json.dumps(doc))
    code, text = verify(bundle, tmp_path)
    assert code == 1
    assert text == "sbom.cdx.json: unexpected: bundle.json says the bundle has no SBOM"


def test_a_bundle_changed_consistently_keeps_its_sbom_in_step(bundle: Path, tmp_path: Path) -> None:
    remove_project(bundle, "framework")
    assert "pkg:pypi/framework@2.0" not in components(sbom(bundle))
    _, text = verify(bundle, tmp_path)
    assert "sbom.cdx.json" not in text


def test_sbom_problems_reads_anything_without_crashing(bundle: Path) -> None:
    manifest = load_bundle(bundle)
    assert sbom_problems(b"\xff", manifest)[0].startswith("not valid JSON")
    assert sbom_problems(b"[]", manifest) == ["not a CycloneDX document (no bomFormat 'CycloneDX')"]
    odd = {"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [1, {"purl": 2}]}
    assert "components[0] has no purl" in sbom_problems(json.dumps(odd).encode(), manifest)
    renamed = dataclasses.replace(
        manifest,
        packages=tuple(p for p in manifest.packages if p.name != "buildtool"),
        artifacts=tuple(a for a in manifest.artifacts if a.project != "buildtool"),
    )
    assert sbom_problems((bundle / "sbom.cdx.json").read_bytes(), renamed) == [
        "lists pkg:pypi/buildtool@1.0, which the manifest does not lock"
    ]
    assert sbom_problems(render_sbom(renamed, {}), renamed) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (
            "License-Expression: MIT\nClassifier: License :: OSI Approved :: BSD License\n",
            DeclaredLicense(expression="MIT", classifiers=("BSD License",)),
        ),
        ("License: UNKNOWN\n", DeclaredLicense()),
        ("License: BSD-3-Clause\n", DeclaredLicense(text="BSD-3-Clause")),
        ("Classifier: Programming Language :: Python\n", DeclaredLicense()),
    ],
)
def test_declared_license(fields: str, expected: DeclaredLicense) -> None:
    metadata = f"Metadata-Version: 2.4\nName: x\nVersion: 1\n{fields}\n".encode()
    assert declared_license(metadata) == expected


def test_bundle_add_rewrites_the_sbom(bundle: Path, tmp_path: Path) -> None:
    wheel = build_wheel(
        DistSpec("acme-utils", "1.0", metadata_fields=("License-Expression: MIT",)),
        "py3-none-any",
        tmp_path / "dist",
    )
    assert run(["add", str(bundle), str(wheel), "--no-deps", "--quiet"]) == 0
    added = components(sbom(bundle))["pkg:pypi/acme-utils@1.0"]
    assert added["licenses"] == [{"license": {"id": "MIT", "acknowledgement": "declared"}}]
    code, text = verify(bundle, tmp_path)
    assert code == 0, text


def test_the_manifest_says_whether_the_bundle_has_an_sbom(bundle: Path) -> None:
    manifest = load_bundle(bundle)
    assert manifest.sbom
    doc = json.loads(manifest_to_json(manifest))
    assert doc["sbom"] is True
    del doc["sbom"]  # a bundle.json written before bundles carried one
    assert not manifest_from_json(json.dumps(doc).encode(), "bundle.json").sbom


def test_the_sbom_command_writes_to_stdout(
    bundle: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    assert run(["sbom", str(bundle), "-o", "-"]) == 0
    assert capsysbinary.readouterr().out == (bundle / "sbom.cdx.json").read_bytes()


def test_verify_compares_the_sbom_whole(bundle: Path, tmp_path: Path) -> None:
    """A license changed, the dependency graph edited or a property added:
    each is named by its path in the SBOM."""
    original = sbom(bundle)
    index = next(i for i, c in enumerate(original["components"]) if c["name"] == "helper")

    def tampered(edit: Callable[[dict[str, Any]], None]) -> str:
        doc = copy.deepcopy(original)
        edit(doc)
        (bundle / "sbom.cdx.json").write_text(json.dumps(doc))
        code, text = verify(bundle, tmp_path)
        assert code == 1, text
        assert len(text.splitlines()) == 1
        return text

    def relicense(doc: dict[str, Any]) -> None:
        doc["components"][index]["licenses"] = [{"license": {"id": "GPL-3.0-only"}}]

    def regraph(doc: dict[str, Any]) -> None:
        doc["dependencies"][0]["dependsOn"].pop()

    def annotate(doc: dict[str, Any]) -> None:
        doc["components"][index]["properties"].append({"name": "x:fake", "value": "1"})

    text = tampered(relicense)
    assert text.startswith(f"sbom.cdx.json: components[{index}].licenses[0].license")
    assert "sbom.cdx.json: dependencies[0].dependsOn: " in tampered(regraph)
    assert f"components[{index}].properties: " in tampered(annotate)
    # Whitespace and key order are not content.
    (bundle / "sbom.cdx.json").write_text(json.dumps(original, sort_keys=True))
    code, text = verify(bundle, tmp_path)
    assert code == 0, text
