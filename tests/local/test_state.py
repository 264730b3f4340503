"""State directory handling: stale stacks are cleaned up, marked processes are found and stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from reelsight import envvars
from reelsight.local.launcher import healthy
from reelsight.local.state import marked_processes, pid_alive, read_state, write_state
from reelsight.local.supervisor import stop_stack


def spawn_marked(marker: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, envvars.LOCAL_STACK_MARKER: marker}
    return subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(120)"], env=env, start_new_session=True
    )


def test_stale_state_is_cleaned_and_orphans_stopped(tmp_path: Path) -> None:
    marker = f"reelsight-local-test-{uuid.uuid4().hex[:8]}"
    orphan = spawn_marked(marker)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_state(
        tmp_path,
        {
            "status": "ready",
            "supervisor_pid": dead.pid,  # the supervisor died without cleaning up
            "marker": marker,
            "processes": {"worker": {"pid": orphan.pid}},
        },
    )
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert not healthy(read_state(tmp_path) or {})
    assert [p.pid for p in marked_processes(marker)] == [orphan.pid]

    assert stop_stack(tmp_path, timeout=5) is True
    orphan.wait(timeout=10)
    assert not pid_alive(orphan.pid)
    assert marked_processes(marker) == []
    assert (read_state(tmp_path) or {})["status"] == "stopped"


def test_down_without_state_is_a_no_op(tmp_path: Path) -> None:
    assert stop_stack(tmp_path) is False


def test_cli_status_and_down_without_a_stack(tmp_path: Path) -> None:
    args = ["--state-dir", str(tmp_path)]
    status = subprocess.run(
        [sys.executable, "-m", "reelsight", "local", "status", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert status.returncode == 1 and "no local stack" in status.stdout
    down = subprocess.run(
        [sys.executable, "-m", "reelsight", "local", "down", *args],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "no local stack running" in down.stdout


def test_up_without_templates_says_to_synth(tmp_path: Path) -> None:
    up = subprocess.run(
        [sys.executable, "-m", "reelsight", "local", "up", "--no-synth", "--state-dir", str(tmp_path / "s"),
         "--cdk-out", str(tmp_path / "nothing")],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert up.returncode != 0
    assert "make synth" in up.stderr
    assert not pid_alive((read_state(tmp_path / "s") or {}).get("supervisor_pid"))
