"""Helpers of the API tests: the API's AWS resources on moto and API server subprocesses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from reelsight import envvars
from reelsight.contract.jobs import encode_item
from reelsight.testing.moto_server import MotoServer, free_port

TOKEN = "test-token-0123456789abcdef"
REPO_ROOT = Path(__file__).resolve().parents[2]


def live(percent: float | None) -> dict[str, Any]:
    """The worker-reported progress fields the API shows for an entry that has only frame counts
    (an older writer's): the stage reads as running, rates and ETA as unknown."""
    return {"stage": "running", "percent": percent, "decode_fps": None, "inference_fps": None,
            "eta_seconds": None, "parts": 0}  # fmt: skip


@dataclass
class ApiResources:
    table: str
    results_bucket: str
    input_bucket: str
    dynamodb: Any = None
    s3: Any = None

    def ensure(self) -> ApiResources:
        """Create the table (with the by_status index) and buckets if missing (moto may have been reset)."""
        try:
            self.dynamodb.describe_table(TableName=self.table)
        except self.dynamodb.exceptions.ResourceNotFoundException:
            self.dynamodb.create_table(
                TableName=self.table,
                BillingMode="PAY_PER_REQUEST",
                AttributeDefinitions=[
                    {"AttributeName": "job_id", "AttributeType": "S"},
                    {"AttributeName": "status", "AttributeType": "S"},
                    {"AttributeName": "created_at", "AttributeType": "S"},
                ],
                KeySchema=[{"AttributeName": "job_id", "KeyType": "HASH"}],
                GlobalSecondaryIndexes=[
                    {
                        "IndexName": "by_status",
                        "KeySchema": [
                            {"AttributeName": "status", "KeyType": "HASH"},
                            {"AttributeName": "created_at", "KeyType": "RANGE"},
                        ],
                        "Projection": {"ProjectionType": "ALL"},
                    }
                ],
            )
        existing = {b["Name"] for b in self.s3.list_buckets().get("Buckets", [])}
        for bucket in (self.results_bucket, self.input_bucket):
            if bucket not in existing:
                self.s3.create_bucket(Bucket=bucket)
        return self

    def clear_jobs(self) -> None:
        for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table):
            for item in page.get("Items", []):
                self.dynamodb.delete_item(TableName=self.table, Key={"job_id": item["job_id"]})

    def put_job(self, **fields: Any) -> dict[str, Any]:
        """An item written as is: for tables older or other writers left (the producers are in
        tests/contract/job_chain.py)."""
        self.dynamodb.put_item(TableName=self.table, Item=encode_item(fields))
        return fields

    def put_json(self, key: str, document: Any, bucket: str | None = None) -> str:
        bucket = bucket or self.results_bucket
        self.s3.put_object(
            Bucket=bucket, Key=key, Body=json.dumps(document).encode(), ContentType="application/json"
        )
        return f"s3://{bucket}/{key}"

    def env(self) -> dict[str, str]:
        return {
            envvars.JOBS_TABLE: self.table,
            envvars.RESULTS_BUCKET: self.results_bucket,
            envvars.INPUT_BUCKET: self.input_bucket,
        }


@dataclass
class ApiServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    log_path: Path
    clients: list[httpx.Client] = field(default_factory=list)

    def client(self, token: str | None = TOKEN) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        client = httpx.Client(base_url=self.url, headers=headers, timeout=30)
        self.clients.append(client)
        return client

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        for client in self.clients:
            client.close()
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    moto: MotoServer,
    resources: ApiResources,
    log_dir: Path,
    *,
    python: str = sys.executable,
    cwd: Path = REPO_ROOT,
    log_level: str = "warning",
    **extra_env: str,
) -> ApiServer:
    """``python -m reelsight api`` on a free loopback port, pointed at ``moto`` and ``resources``."""
    port = free_port()
    env = {**os.environ, **moto.client_env(), **resources.env(), envvars.API_TOKEN: TOKEN, **extra_env}
    env.pop("AWS_PROFILE", None)
    command = [
        python,
        "-m",
        "reelsight",
        "api",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        log_level,
    ]
    log_path = log_dir / f"api-{port}.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    server = ApiServer(url=f"http://127.0.0.1:{port}", token=TOKEN, process=process, log_path=log_path)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"API server exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.stop()
    raise TimeoutError(f"API server did not answer within 60 s:\n{server.log()}")
