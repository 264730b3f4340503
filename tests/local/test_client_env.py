"""`reelsight local env`: export lines a POSIX shell evaluates into exactly the stack's environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from reelsight.local.client_env import SDK_CONFIG_VARIABLE, client_environment, export_lines, write_sdk_config

REPO = Path(__file__).resolve().parents[2]


def test_the_exports_evaluate_to_the_environment_and_drop_profiles(tmp_path: Path) -> None:
    odd = tmp_path / "odd dir $HOME"  # quoting is the point
    odd.mkdir()
    config = write_sdk_config(odd / "sdk.json")
    env = client_environment(
        moto_url="http://127.0.0.1:1",
        endpoint_url="http://127.0.0.1:2",
        control_plane_url="http://127.0.0.1:3",
        sdk_config=config,
    )
    script = "\n".join(export_lines(env)) + "\nenv -0"
    shell_env = {
        "PATH": os.environ["PATH"],
        "AWS_PROFILE": "prod",
        "AWS_ENDPOINT_URL_STS": "https://sts.amazonaws.com",
    }
    done = subprocess.run(["bash", "-c", script], env=shell_env, capture_output=True, text=True, check=True)
    seen = dict(item.split("=", 1) for item in done.stdout.split("\0") if "=" in item)

    assert "AWS_PROFILE" not in seen
    assert {k: seen[k] for k in env} == env
    assert seen["AWS_ENDPOINT_URL_STS"] == "http://127.0.0.1:1"
    assert seen["AWS_ENDPOINT_URL_SAGEMAKER"] == "http://127.0.0.1:3"
    assert seen["AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"] == "http://127.0.0.1:2"
    sdk = json.loads(Path(seen[SDK_CONFIG_VARIABLE]).read_text())
    assert (
        sdk["SageMaker"]["PythonSDK"]["Modules"]["Session"]["DefaultS3Bucket"]
        == "sagemaker-us-east-1-123456789012"
    )


def test_without_a_ready_stack_it_says_so_and_prints_no_exports(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "reelsight", "local", "env", "--state-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert "no local stack is ready" in done.stderr
