"""Start the supervisor in the background (or here), reusing a healthy stack or clearing a stale one."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from reelsight.errors import ReelsightError
from reelsight.local.state import pid_alive, read_state, state_dir
from reelsight.local.supervisor import LocalOptions, Supervisor, resolve_weights, stop_stack
from reelsight.local.template import template_paths


class LocalStackError(ReelsightError):
    exit_code = 5


@dataclass
class LaunchRequest:
    state_dir: str | None = None
    cdk_out: str = "cdk.out"
    synth: bool = True
    model: str = "maskrcnn"
    weights: str = "auto"
    fps: str = "1"
    max_frames: str = ""
    size: str = "320x180"
    resize: str = "fit"
    api: bool = True
    worker_concurrency: int | None = None
    timeout: float = 300.0

    def options(self) -> LocalOptions:
        return LocalOptions(
            state_dir=str(state_dir(self.state_dir)),
            cdk_out=str(Path(self.cdk_out).resolve()),
            model=self.model,
            weights=self.weights,
            fps=self.fps,
            max_frames=self.max_frames,
            size=self.size,
            resize=self.resize,
            api=self.api,
            worker_concurrency=self.worker_concurrency,
            startup_timeout=self.timeout,
        )

    def argv(self) -> list[str]:
        argv = [
            sys.executable, "-m", "reelsight", "local", "up", "--foreground", "--no-synth",
            "--state-dir", str(state_dir(self.state_dir)), "--cdk-out", str(Path(self.cdk_out).resolve()),
            "--model", self.model, "--weights", self.weights, "--fps", self.fps, "--size", self.size,
            "--resize", self.resize, "--timeout", str(self.timeout),
        ]  # fmt: skip
        if self.max_frames:
            argv += ["--max-frames", self.max_frames]
        if not self.api:
            argv.append("--no-api")
        if self.worker_concurrency:
            argv += ["--worker-concurrency", str(self.worker_concurrency)]
        return argv


def healthy(state: dict[str, Any]) -> bool:
    if state.get("status") != "ready" or not pid_alive(state.get("supervisor_pid")):
        return False
    for url in (f"{state.get('endpoint_url')}/ping", f"{state.get('moto_url')}/moto-api/"):
        try:
            with urllib.request.urlopen(url, timeout=3) as resp:
                if resp.status != 200:
                    return False
        except OSError:
            return False
    return True


def ensure_templates(cdk_out: str, synth: bool, echo: Callable[[str], None]) -> None:
    if template_paths(cdk_out):
        return
    if not synth or not Path("Makefile").is_file():
        raise LocalStackError(f"no synthesized templates in {cdk_out}/: run `make synth` first")
    echo(f"no templates in {cdk_out}/; running `make synth`")
    result = subprocess.run(["make", "--no-print-directory", "synth"], check=False)
    if result.returncode != 0 or not template_paths(cdk_out):
        raise LocalStackError("`make synth` failed; fix it and run `reelsight local up` again")


def run_foreground(request: LaunchRequest) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    directory = state_dir(request.state_dir)
    state = read_state(directory)
    if state and pid_alive(state.get("supervisor_pid")):
        raise LocalStackError(f"a local stack already runs from {directory}; `reelsight local down` first")
    ensure_templates(request.cdk_out, request.synth, print)
    return Supervisor(request.options()).run()


def launch(request: LaunchRequest, echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Start the stack in the background and wait until it is ready; returns its state."""
    directory = state_dir(request.state_dir)
    state = read_state(directory)
    if state and healthy(state):
        echo(f"local stack already running (supervisor pid {state['supervisor_pid']}); reusing it")
        return state
    if state and state.get("status") == "starting" and pid_alive(state.get("supervisor_pid")):
        echo("local stack is starting; waiting for it")
        return _wait_ready(directory, int(state["supervisor_pid"]), None, request.timeout + 60)
    if state and stop_stack(directory):
        echo("stopped a stale local stack")
    ensure_templates(request.cdk_out, request.synth, echo)
    # `auto` is settled here, in the foreground, where a download's progress bar can be seen.
    request = replace(request, weights=resolve_weights(request.options(), echo)[0])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "logs").mkdir(exist_ok=True)
    log_path = directory / "logs" / "supervisor.log"
    echo(f"starting the local stack (logs in {directory / 'logs'})")
    with open(log_path, "ab") as logf:
        proc = subprocess.Popen(
            request.argv(),
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # survives this command; `local down` stops it
        )
    return _wait_ready(directory, proc.pid, proc, request.timeout + 60)


def _wait_ready(
    directory: Path, pid: int, proc: subprocess.Popen[bytes] | None, timeout: float
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = read_state(directory) or {}
        if state.get("supervisor_pid") == pid:
            if state.get("status") == "ready":
                return state
            if state.get("status") in ("failed", "stopped"):
                raise LocalStackError(
                    f"the local stack failed to start: {state.get('error')}\n{_log_tail(directory)}"
                )
        exited = proc.poll() is not None if proc else not pid_alive(pid)
        if exited:
            raise LocalStackError(f"the local stack's supervisor exited\n{_log_tail(directory)}")
        time.sleep(0.5)
    stop_stack(directory)
    raise LocalStackError(f"the local stack was not ready within {timeout:.0f}s\n{_log_tail(directory)}")


def _log_tail(directory: Path, lines: int = 30) -> str:
    out = []
    for path in sorted((directory / "logs").glob("*.log")):
        text = path.read_text(errors="replace").splitlines()[-lines:]
        if text:
            out.append(f"--- {path.name} (last {len(text)} lines)\n" + "\n".join(text))
    return "\n".join(out)
