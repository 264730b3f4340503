"""Fixtures for the local stack's end-to-end tests: synthesized templates and a running stack."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from reelsight.local.template import template_paths


def _stale(cdk_out: Path, repo_root: Path) -> bool:
    """True when the CDK app changed after the templates were written."""
    written = min(p.stat().st_mtime for p in template_paths(cdk_out))
    sources = [repo_root / "app.py", repo_root / "cdk.json", *(repo_root / "stacks").rglob("*.py")]
    return any(p.is_file() and p.stat().st_mtime > written for p in sources)


@pytest.fixture(scope="session")
def cdk_out(repo_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The CDK app's synthesized templates: ./cdk.out when present, else a fresh offline synth."""
    existing = repo_root / "cdk.out"
    if template_paths(existing) and not _stale(existing, repo_root):
        return existing
    npx = shutil.which("npx")
    if npx is None or not (repo_root / "node_modules" / ".bin" / "cdk").exists():
        pytest.fail("no cdk.out/ and no CDK CLI: run `make synth` (or `npm ci`) first")
    out = tmp_path_factory.mktemp("cdk.out")
    result = subprocess.run(
        [npx, "--no-install", "cdk", "synth", "--no-notices", "--quiet", "--output", str(out)],
        cwd=repo_root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if not template_paths(out):
        pytest.fail(f"cdk synth wrote no templates:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return out
