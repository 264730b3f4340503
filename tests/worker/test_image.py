"""The worker image: Dockerfile lint, its dependency list, and the entrypoint's dispatch."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tools import locks

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "containers" / "worker" / "Dockerfile"
ENTRYPOINT = REPO / "containers" / "worker" / "entrypoint.sh"
HADOLINT = Path(sys.executable).parent / "hadolint"
# Import name -> distribution name, where they differ.
DISTRIBUTIONS = {"cv2": "opencv-python-headless", "PIL": "pillow", "botocore": "boto3"}
# Optional backends the worker image leaves out: ONNX weights need onnxruntime, which the
# torch-based image does not install (load_predictor answers a clear ModelError there).
OPTIONAL = {"onnx", "onnxruntime"}
# Modules the worker runs: the package's CLI for serve/process and everything they import from reelsight.
WORKER_ROOTS = ("reelsight.cli.serve", "reelsight.cli.process", "reelsight.worker")


def test_dockerfile_passes_hadolint() -> None:
    result = subprocess.run([str(HADOLINT), str(DOCKERFILE)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_ignored_rule_is_justified() -> None:
    lines = DOCKERFILE.read_text().splitlines()
    for i, line in enumerate(lines):
        if "hadolint ignore" in line:
            assert i > 0 and lines[i - 1].startswith("#") and "hadolint" not in lines[i - 1], line


def test_image_installs_the_runtime_lock_verbatim_and_nothing_else() -> None:
    text = DOCKERFILE.read_text()
    installs = re.findall(r"pip install ([^\n\\&]+)", text)
    assert installs == ["--require-hashes --requirement runtime.txt", "--no-deps ."], installs
    assert "COPY requirements/runtime.txt" in text
    assert re.search(r"^USER 10001", text, re.M), "the image must not run as root"
    assert re.search(r'^ENTRYPOINT \["/usr/local/bin/reelsight-entrypoint"\]', text, re.M)


def _requirements() -> dict[str, str]:
    return {name: pin.version for name, pin in locks.read_pins(REPO / "requirements" / "runtime.txt").items()}


def _module_file(name: str) -> Path | None:
    base = REPO / Path(*name.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _third_party_imports() -> set[str]:
    """Top-level third-party modules imported by the worker's reelsight modules (transitively)."""
    stdlib = set(sys.stdlib_module_names)
    seen: set[str] = set()
    pending = list(WORKER_ROOTS)
    pending += [f"reelsight.worker.{p.stem}" for p in (REPO / "reelsight" / "worker").glob("*.py")]
    found: set[str] = set()
    while pending:
        name = pending.pop()
        path = _module_file(name)
        if name in seen or path is None:
            continue
        seen.add(name)
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for imported in names:
                top = imported.split(".")[0]
                if top == "reelsight":
                    parts = imported.split(".")
                    pending += [".".join(parts[:i]) for i in range(2, len(parts) + 1)]
                elif top not in stdlib:
                    found.add(top)
    return found


def test_worker_imports_only_what_the_runtime_lock_pins() -> None:
    pins = _requirements()
    imported = _third_party_imports()
    assert {"torch", "av", "numpy"} <= imported  # the walk reached the core library
    missing = sorted(m for m in imported - OPTIONAL if DISTRIBUTIONS.get(m, m).lower() not in pins)
    assert not missing, f"imported by the worker but not in requirements/runtime.txt: {missing}"


@pytest.fixture()
def fake_reelsight(tmp_path: Path) -> dict[str, str]:
    """A stand-in ``reelsight`` on PATH that prints its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "reelsight"
    fake.write_text('#!/usr/bin/env bash\necho "reelsight $*"\n')
    fake.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], "reelsight serve"),
        (["serve"], "reelsight serve"),
        (["serve", "--port", "9000"], "reelsight serve --port 9000"),
        (
            ["process", "--mode", "frames", "--custom-sharding"],
            "reelsight process --mode frames --custom-sharding",
        ),
        (["echo", "hello"], "hello"),
    ],
)
def test_entrypoint_dispatches(fake_reelsight: dict[str, str], args: list[str], expected: str) -> None:
    result = subprocess.run(
        ["bash", str(ENTRYPOINT), *args], env=fake_reelsight, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected
