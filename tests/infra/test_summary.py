"""The committed template summaries in docs/infrastructure/ match the current app."""

from __future__ import annotations

from pathlib import Path

from stacks.summary import mask_logical_id, summarize, write_summaries
from tests.infra.synth import REPO_ROOT, Synthesized

COMMITTED = REPO_ROOT / "docs" / "infrastructure"


def test_committed_summaries_are_current(synthesized: Synthesized, tmp_path: Path) -> None:
    written = write_summaries(synthesized.outdir, tmp_path)
    assert {p.name for p in written} == {f"{stack}.txt" for stack in synthesized.templates}
    for fresh in written:
        committed = COMMITTED / fresh.name
        assert committed.exists(), f"{committed} is missing: run `make template-summary`"
        assert committed.read_text() == fresh.read_text(), (
            f"{committed} is stale: run `make template-summary`"
        )


def test_summary_lists_each_resource_once_with_its_role() -> None:
    template = {
        "Resources": {
            "UploadQueue": {
                "Type": "AWS::SQS::Queue",
                "Metadata": {"reelsight:role": "upload-queue"},
                "Properties": {"VisibilityTimeout": 360, "RedrivePolicy": {"maxReceiveCount": 5}},
            },
            "ApiInstanceDFC9B3B5839e43473153df74": {"Type": "AWS::EC2::Instance", "Properties": {}},
        }
    }
    assert summarize(template) == [
        "ApiInstanceDFC9B3B5<user-data> AWS::EC2::Instance",
        "UploadQueue AWS::SQS::Queue role=upload-queue VisibilityTimeout=360 maxReceiveCount=5",
    ]
    assert mask_logical_id("InputBucket") == "InputBucket"
