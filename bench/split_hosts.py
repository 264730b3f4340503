"""Benchmark: one long video on 1 host vs cut by time over N hosts (a split Processing job).

    python -m bench.split_hosts [--seconds 60] [--fps 2] [--hosts 3] [--model deeplabv3_resnet50]
                                [--size 320x180] [--threads N] [--out results.json]

Both runs are real ``reelsight process`` processes against a moto S3 server, as the worker tests
run them (``reelsight.testing.processing_jobs``): the 1-host run is a batch of that one video, the
N-host run a split plan of N ranges with all hosts started at once. Wall time is from the first
start to the last exit (model load included, as in a real job), and the merged frames.jsonl is
checked to equal the 1-host one. All hosts share this machine's cores, so the figure says what
the split costs or saves *here*; on N real instances each host has its own.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

INPUT_KEY = "bench/long.mp4"


def _environment(args: argparse.Namespace, threads: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELSIGHT_")}
    env.update(
        {
            "REELSIGHT_MODEL": args.model,
            "REELSIGHT_WEIGHTS": "random",
            "REELSIGHT_DEVICE": "cpu",
            "REELSIGHT_RESIZE": "fit",
            "REELSIGHT_SIZE": args.size,
            "REELSIGHT_FPS": str(args.fps),
            "OMP_NUM_THREADS": str(threads),
        }
    )
    return env


def _timed(s3: Any, request: dict[str, Any], workdir: Path, hosts: int, environ: dict[str, str]) -> float:
    from reelsight.testing.processing_jobs import run_hosts

    started = time.perf_counter()
    done = run_hosts(s3, request, workdir, hosts, environ)
    seconds = time.perf_counter() - started
    for host in done:
        if host.proc.returncode != 0:
            raise SystemExit(f"{host.name} exited {host.proc.returncode}:\n{host.log()[-3000:]}")
    return seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    import boto3

    from reelsight.contract.batch import merged_prefix, part_prefix, plan_batch, plan_split
    from reelsight.contract.names import FRAMES_FILE, s3_uri
    from reelsight.testing.moto_server import MotoServer
    from reelsight.testing.processing_jobs import INPUT_BUCKET, RESULTS_BUCKET, dispatch, read
    from reelsight.testing.videos import write_video

    cores = os.cpu_count() or 1
    with tempfile.TemporaryDirectory(prefix="split-bench-") as tmp, MotoServer() as server:
        os.environ.update(server.client_env())
        s3 = boto3.client("s3")
        for bucket in (INPUT_BUCKET, RESULTS_BUCKET):
            s3.create_bucket(Bucket=bucket)
        video = Path(tmp) / "long.mp4"
        write_video(video, seconds=args.seconds, fps=30, width=640, height=360, gop=30)
        s3.upload_file(str(video), INPUT_BUCKET, INPUT_KEY)
        uri = s3_uri(INPUT_BUCKET, INPUT_KEY)
        one = plan_batch("1" * 32, [uri])
        split = plan_split("2" * 32, uri, args.hosts)
        one_threads = args.threads or cores
        # By default each host gets its share of the cores, as it would get its own instance's.
        split_threads = args.threads or max(cores // args.hosts, 1)
        one_s = _timed(s3, dispatch(s3, one), Path(tmp), 1, _environment(args, one_threads))
        split_s = _timed(s3, dispatch(s3, split), Path(tmp), args.hosts, _environment(args, split_threads))
        merged = read(s3, merged_prefix(split.job_id, "long") + FRAMES_FILE).decode().splitlines()
        reference = read(s3, part_prefix(one.job_id, "long") + FRAMES_FILE).decode().splitlines()
    return {
        "video_seconds": args.seconds,
        "samples": int(args.seconds * args.fps),
        "model": args.model,
        "size": args.size,
        "hosts": args.hosts,
        "one_host_s": round(one_s, 1),
        "split_s": round(split_s, 1),
        "speedup": round(one_s / split_s, 2),
        "threads_one_host": one_threads,
        "threads_per_split_host": split_threads,
        **_compare(merged, reference),
        "cpu": platform.processor() or platform.machine(),
        "cores": cores,
    }


def _compare(merged: list[str], reference: list[str]) -> dict[str, Any]:
    """Whether the merged frames equal the one-host ones: the same samples (frame index and
    timestamp), and how many lines differ at all (a different thread count can move a model's
    last digits)."""

    def sample(line: str) -> tuple[int, float]:
        record = json.loads(line)
        return record["frame_index"], record["timestamp"]

    return {
        "merged_equals_one_host": merged == reference,
        "same_samples": [sample(x) for x in merged] == [sample(x) for x in reference],
        "lines_differing": sum(a != b for a, b in zip(merged, reference, strict=False))
        + abs(len(merged) - len(reference)),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fps", type=float, default=2.0, help="samples per second of video")
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--model", default="deeplabv3_resnet50", help="a model heavy enough to matter")
    parser.add_argument("--size", default="320x180", help="model input WIDTHxHEIGHT (resize=fit)")
    parser.add_argument(
        "--threads",
        type=int,
        help="torch threads of every host (default: all cores for 1 host, a share each)",
    )
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
