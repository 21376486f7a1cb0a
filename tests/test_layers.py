"""The stages import only the layers below them: the `[tool.importlinter]`
contract of pyproject.toml, checked on the code as it is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from importlinter.cli import lint_imports

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - 3.10
    import tomli as tomllib

REPO = Path(__file__).resolve().parents[1]


def _lint(config: Path) -> int:
    return lint_imports(config_filename=str(config), no_cache=True, no_logo=True)


def test_the_layers_contract_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    assert _lint(REPO / "pyproject.toml") == 0


def test_the_contract_sees_an_import_against_the_layers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same contract with two stages swapped (spec above the index, which
    reads pages through it) is broken: the check reads real imports."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers: list[str] = config["contracts"][0]["layers"]
    index_row = next(i for i, row in enumerate(layers) if "bundler.index" in row)
    spec_row = layers.index("bundler.spec")
    layers[index_row], layers[spec_row] = layers[spec_row], layers[index_row]
    rows = ",\n".join(f'    "{row}"' for row in layers)
    swapped = tmp_path / "swapped.toml"
    swapped.write_text(
        f'[tool.importlinter]\nroot_package = "bundler"\n\n'
        f'[[tool.importlinter.contracts]]\nname = "swapped"\ntype = "layers"\n'
        f"layers = [\n{rows},\n]\n"
    )
    monkeypatch.chdir(REPO)
    assert _lint(swapped) == 1
