"""The results handler stores the worker's cost receipt on the job record and sends it in the notification."""

from __future__ import annotations

import pytest
from lambda_stack import FakeContext, Stack
from test_results_flow import _async_message, _dispatch, _put_output, _through_sns

from lambdas.results.handler import lambda_handler
from reelsight import envvars
from reelsight.contract.cost import PRICE_SOURCE
from reelsight.results import ShortSummary


def test_the_receipt_reaches_the_job_record_and_the_notification(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = _dispatch(stack, "incoming/cost/clip.mp4")
    with monkeypatch.context() as worker_env:  # the SageMaker model's environment
        worker_env.setenv(envvars.INSTANCE_TYPE, "ml.g4dn.xlarge")
        worker_env.setenv("AWS_REGION", "us-east-1")
        worker_env.delenv(envvars.PRICES, raising=False)
        output = _put_output(stack, job["job_id"])
    event = _through_sns(
        stack, _async_message(job, "Completed", responseParameters={"outputLocation": output})
    )
    assert lambda_handler(event, FakeContext()) == {"batchItemFailures": []}

    record = stack.job(job["job_id"])
    assert record is not None
    stored = record["summary"]["receipt"]
    assert (stored["instance_type"], stored["price_per_hour"], stored["price_source"]) == (
        "ml.g4dn.xlarge",
        0.7364,
        PRICE_SOURCE,
    )
    assert stored["worker_seconds"]["total"] == 2.0 and stored["frames"] == 3 and stored["video_seconds"] == 5
    assert stored["cost"] == pytest.approx(0.7364 * 2.0 / 3600)
    assert stored["cost_per_video_hour"] == pytest.approx(stored["cost"] * 3600 / 5.0)
    [note] = stack.notifications(expect=1)
    sent = note["Message"]["summary"]["receipt"]
    assert (
        ShortSummary.from_json({"receipt": sent}).receipt == ShortSummary.from_json(record["summary"]).receipt
    )
    assert sent["cost"] == pytest.approx(stored["cost"])
