"""The API image: a lint-clean Dockerfile, pins that match the repository, and the server running from
a venv that holds only the image's requirements (no Docker engine needed)."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.api.support import REPO_ROOT, ApiResources, ApiServer
from tools import locks

DOCKERFILE = REPO_ROOT / "containers" / "api" / "Dockerfile"
IMAGE_REQUIREMENTS = REPO_ROOT / "requirements" / "api.txt"
API_VENV = REPO_ROOT / ".venv-api"


def test_dockerfile_is_hadolint_clean_and_runs_as_non_root() -> None:
    hadolint = Path(sys.executable).with_name("hadolint")
    answer = subprocess.run([str(hadolint), str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    text = DOCKERFILE.read_text()
    users = re.findall(r"^USER\s+(\S+)", text, re.MULTILINE)
    assert users and users[-1] not in ("0", "root")
    assert re.search(r"^FROM python:3\.11[.\d]*-slim", text, re.MULTILINE)
    assert "COPY requirements/api.txt" in text
    assert re.search(r"^EXPOSE 8000$", text, re.MULTILINE)
    assert re.search(r'^CMD \["--host", "0\.0\.0\.0"\]$', text, re.MULTILINE)


def test_image_lock_holds_the_server_and_no_model_code() -> None:
    """Lock against lock: the image's pins are the dev lock's (tests/repo/test_locks.py checks all)."""
    image = locks.read_pins(IMAGE_REQUIREMENTS)
    dev = locks.read_pins(REPO_ROOT / "requirements" / "dev.txt")
    assert {"fastapi", "uvicorn", "boto3", "pydantic", "starlette"} <= set(image)
    assert {name: pin.version for name, pin in image.items()} == {name: dev[name].version for name in image}
    assert not {"torch", "torchvision", "av", "opencv-python-headless", "numpy"} & set(image)


@pytest.fixture(scope="module")
def api_venv_python() -> str:
    """The venv `make` builds from the image's requirements (built here when missing)."""
    python = API_VENV / "bin" / "python"
    if not (API_VENV / ".installed").exists():
        subprocess.run([sys.executable, "-m", "venv", str(API_VENV)], check=True, timeout=120)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", "-r", str(IMAGE_REQUIREMENTS)],
            check=True,
            timeout=600,
        )
        (API_VENV / ".installed").touch()
    return str(python)


def test_server_runs_with_only_the_image_requirements(
    api_venv_python: str, start_api: Callable[..., ApiServer], api_aws: ApiResources, tmp_path: Path
) -> None:
    missing = subprocess.run([api_venv_python, "-c", "import numpy"], capture_output=True, timeout=60)
    assert missing.returncode != 0, "the image venv must not contain numpy"
    # As in the image: the package from source on PYTHONPATH, started from another directory.
    server = start_api(python=api_venv_python, cwd=tmp_path, PYTHONPATH=str(REPO_ROOT), PYTHONNOUSERSITE="1")
    client = server.client()
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/v1/jobs").json() == {"items": [], "next": None}
    ticket = client.post("/v1/uploads", json={"filename": "a.mp4", "fps": 1.5, "model": "fasterrcnn"})
    assert ticket.status_code == 200, ticket.text + server.log()
    assert "text/html" in httpx.get(f"{server.url}/").headers["content-type"]
    assert httpx.get(f"{server.url}/static/job.js").status_code == 200
