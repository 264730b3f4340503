"""Fixtures of the seam tests: fresh jobs table and buckets on the session's moto server, and the chain
of real producers (dispatcher -> results Lambda) wired to them."""

from __future__ import annotations

import uuid

import boto3
import pytest

from reelsight.testing.moto_server import MotoServer
from tests.api.support import ApiResources
from tests.contract.job_chain import JobChain


@pytest.fixture()
def resources(aws_env: MotoServer) -> ApiResources:
    suffix = uuid.uuid4().hex[:8]
    return ApiResources(
        table=f"contract-jobs-{suffix}",
        results_bucket=f"contract-results-{suffix}",
        input_bucket=f"contract-input-{suffix}",
        dynamodb=boto3.client("dynamodb"),
        s3=boto3.client("s3"),
    ).ensure()


@pytest.fixture()
def chain(aws_env: MotoServer, resources: ApiResources) -> JobChain:
    return JobChain.on_moto(
        aws_env.url,
        jobs_table=resources.table,
        input_bucket=resources.input_bucket,
        results_bucket=resources.results_bucket,
    )
