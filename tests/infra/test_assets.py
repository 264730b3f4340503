"""Asset selection (image build contexts, Lambda bundle patterns) and the stacks' import wall."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from stacks.assets import LAMBDA_CODE_PATTERNS, dockerfile_sources, image_context_excludes
from tests.infra.synth import REPO_ROOT


def test_dockerfile_sources_follow_copy_and_add(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "FROM python:3.11-slim AS build\n"
        "COPY requirements.txt ./\n"
        "COPY --chown=10001:10001 reelsight/ /app/reelsight/\n"
        'COPY ["pyproject.toml", "README.md", "/app/"]\n'
        "ADD containers/api/entry.sh \\\n    /usr/local/bin/entry\n"
        "COPY --from=build /opt/venv /opt/venv\n"
        "RUN echo COPY nothing\n"
    )
    assert dockerfile_sources(dockerfile) == [
        "README.md",
        "containers/api/entry.sh",
        "pyproject.toml",
        "reelsight",
        "requirements.txt",
    ]


def test_image_context_keeps_only_the_dockerfile_and_its_sources() -> None:
    excludes = image_context_excludes("containers/worker/Dockerfile")
    assert excludes[0] == "*"
    assert "!containers/worker/Dockerfile" in excludes
    assert all(not e.startswith("!") or (REPO_ROOT / e[1:]).exists() for e in excludes), excludes
    assert "**/__pycache__" in excludes


def test_lambda_patterns_admit_only_python_sources_of_the_two_packages() -> None:
    assert LAMBDA_CODE_PATTERNS[0] == "/*"
    admitted = [p for p in LAMBDA_CODE_PATTERNS if p.startswith("!")]
    assert admitted == [
        "!/lambdas/",
        "!/reelsight/",
        "!/lambdas/**/",
        "!/reelsight/**/",
        "!/lambdas/**/*.py",
        "!/reelsight/**/*.py",
    ]


def test_cdk_app_imports_no_model_code() -> None:
    code = (
        "import sys; import app; "
        "heavy = sorted(m for m in ('torch', 'torchvision', 'cv2', 'av') if m in sys.modules); "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip().splitlines()[-1:] in ([], [""]), result.stdout
