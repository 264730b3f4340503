"""Node.js version warnings: no raw-bytes banner from jsii on any CDK run below make, one readable note.

jsii (the CDK's JavaScript runtime) prints a 13-line banner on a Node.js it no longer supports, and its
Python side echoes each line as ``b'!!...\\n'``. Starting that runtime (``import constructs``) is the
cheap part of a synth that printed it, so these tests run it instead of a full synth.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SUPPORTED_MAJORS = ("22", "24")
_BYTES_REPR = re.compile(r"^\s*b['\"]", re.MULTILINE)

pytestmark = pytest.mark.skipif(
    shutil.which("node") is None or shutil.which("make") is None, reason="needs node and make"
)


def _node_major() -> str:
    out = subprocess.run(["node", "--version"], capture_output=True, text=True, check=True, timeout=30)
    return out.stdout.strip().lstrip("v").split(".")[0]


def _clean_env(**extra: str) -> dict[str, str]:
    """This environment without jsii's switches (``make test`` exports them), plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JSII_SILENCE_WARNING_")}
    return {**env, **extra}


def _start_jsii(env: dict[str, str], cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "import constructs"],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout + result.stderr


def test_make_exports_what_silences_jsii_for_this_node(repo_root: Path) -> None:
    """Every recipe (synth, demo, the local stack's `make synth`, `make test`) inherits these."""
    dump = subprocess.run(
        ["make", "-s", "--no-print-directory", "--eval", "_reelsight_env: ; @env -0", "_reelsight_env"],
        cwd=repo_root,
        env=_clean_env(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    made = dict(item.split("=", 1) for item in dump.stdout.decode().split("\0") if "=" in item)
    assert made.get("JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION") == _node_major()
    output = _start_jsii(made, repo_root)
    assert not _BYTES_REPR.search(output), output
    assert "!!" not in output, output


def test_synth_recipe_prints_at_most_one_readable_note(repo_root: Path, tmp_path: Path) -> None:
    """`make synth` as a newcomer sees it, with the CDK CLI replaced by the jsii start it leads to."""
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    npx = fake_bin / "npx"
    npx.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "import constructs"\n')
    npx.chmod(0o755)
    env = _clean_env(PATH=f"{fake_bin}{os.pathsep}{os.environ.get('PATH', '')}")
    result = subprocess.run(
        # -o: take the venv and node_modules as they are; this test installs nothing.
        ["make", "-s", "--no-print-directory", "-o", ".venv/.installed", "-o", "node_modules/.installed"]
        + ["synth", f"CDK_OUT={tmp_path / 'cdk.out'}"],
        cwd=repo_root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert not _BYTES_REPR.search(output), output
    assert "!!" not in output, output
    notes = [line for line in output.splitlines() if line.startswith("note:")]
    major = _node_major()
    if major in SUPPORTED_MAJORS:
        assert notes == [], output
    else:
        assert len(notes) == 1 and f"v{major}" in notes[0], output
        assert "22 and 24" in notes[0]
    assert output.strip() == "\n".join(notes), output  # nothing else: the stub CDK prints nothing
