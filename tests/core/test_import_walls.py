"""The import walls: the import-linter contracts in pyproject.toml hold, and a broken one is reported.

``make lint`` runs ``lint-imports`` as well. import-linter counts an import inside a function like
one at the top of a module, and it does not model that importing ``a.b`` first runs ``a/__init__.py``;
the last test checks at run time what follows from that: packages and modules that reach heavy
libraries only lazily load none of them when imported.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CONFIG = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]

# Imported at run time by the Lambdas (the registry's package), the worker and the MXNet image;
# each may use these libraries inside functions only.
LAZY_MODULES = (
    "reelsight.models",
    "reelsight.results",
    "reelsight.frames",
    "reelsight.render",
    "reelsight.annotations",
)
HEAVY = ("torch", "torchvision", "cv2", "av", "pycocotools")


def _lint_imports(config: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).with_name("lint-imports")
    found = str(command) if command.exists() else shutil.which("lint-imports")
    if found is None:
        pytest.fail("lint-imports is missing: install requirements/dev.txt (`make venv`)")
    args = [found, "--no-cache", "--no-logo", *(["--config", str(config)] if config else [])]
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)


def test_declared_contracts_hold() -> None:
    result = _lint_imports()
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(CONFIG['contracts'])} kept, 0 broken." in result.stdout


def test_a_broken_contract_is_reported_lazy_imports_included(tmp_path: Path) -> None:
    """reelsight.frames imports numpy at the top and PyAV only inside functions: both break it."""
    config = tmp_path / "contracts.toml"
    config.write_text(
        textwrap.dedent(
            """
            [tool.importlinter]
            root_packages = ["reelsight"]
            include_external_packages = true

            [[tool.importlinter.contracts]]
            name = "frames without numpy or PyAV"
            type = "forbidden"
            source_modules = ["reelsight.frames"]
            forbidden_modules = ["numpy", "av"]
            """
        )
    )
    result = _lint_imports(config)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Contracts: 0 kept, 1 broken." in result.stdout
    assert "reelsight.frames is not allowed to import numpy" in result.stdout
    assert "reelsight.frames is not allowed to import av" in result.stdout


def test_stdlib_only_contract_forbids_every_third_party_package() -> None:
    """The contract lists packages; this keeps the list complete as dependencies are added."""
    import grimp

    graph = grimp.build_graph(*CONFIG["root_packages"], include_external_packages=True, cache_dir=None)
    third_party = {
        m
        for m in graph.modules
        if "." not in m and m not in sys.stdlib_module_names and m not in CONFIG["root_packages"]
    }
    contract = next(c for c in CONFIG["contracts"] if c["id"] == "stdlib-only")
    assert third_party - set(contract["forbidden_modules"]) == set()


def test_lazy_modules_load_nothing_heavy_when_imported() -> None:
    code = (
        "import importlib, json, sys\n"
        "loaded = {}\n"
        "for name in sys.argv[2:]:\n"
        "    importlib.import_module(name)\n"
        "    loaded[name] = sorted(m for m in sys.argv[1].split(',') if m in sys.modules)\n"
        "print(json.dumps(loaded))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, ",".join(HEAVY), *LAZY_MODULES],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded == {name: [] for name in LAZY_MODULES}
