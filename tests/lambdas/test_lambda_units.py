"""Pure logic of the Lambdas: parsing, ids, routing, summaries, the import wall."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lambdas.common import jobs
from lambdas.common.jobids import (
    job_id_for,
    job_id_from_processing_job_name,
    object_version,
    processing_job_name,
)
from lambdas.common.notify import subject_for
from lambdas.common.settings import Settings
from lambdas.dispatch import records, routing
from lambdas.results import messages
from lambdas.results.summary import OutputUnreadable, extract_summary
from reelsight.errors import ParamError

REPO = Path(__file__).resolve().parents[2]


def test_handlers_do_not_import_torch_cv2_or_av() -> None:
    code = (
        "import sys, json\n"
        "import lambdas.dispatch.handler, lambdas.results.handler\n"
        "heavy = ('torch', 'torchvision', 'cv2', 'av', 'numpy')\n"
        "print(json.dumps(sorted(m for m in heavy if m in sys.modules)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _s3_body(key: str, **obj: object) -> str:
    return json.dumps(
        {
            "Records": [
                {
                    "eventName": "ObjectCreated:Put",
                    "s3": {"bucket": {"name": "b"}, "object": {"key": key, **obj}},
                }
            ]
        }
    )


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("incoming/a+b/c%2Bd.mp4", "incoming/a b/c+d.mp4"),  # AWS style
        ("incoming%2Fa+b%2Fc%2Bd.mp4", "incoming/a b/c+d.mp4"),  # moto style
        ("incoming/%C3%BC%E2%9C%93.mp4", "incoming/ü✓.mp4"),
        ("incoming/100%25.mp4", "incoming/100%.mp4"),
    ],
)
def test_keys_are_decoded(raw: str, decoded: str) -> None:
    [event] = records.parse_body(_s3_body(raw, eTag="e", size=5))
    assert event.key == decoded and event.size == 5 and event.etag == "e"


def test_sns_wrapped_and_test_events() -> None:
    wrapped = json.dumps({"Type": "Notification", "Message": _s3_body("incoming/x.mp4")})
    assert records.parse_body(wrapped)[0].key == "incoming/x.mp4"
    assert records.parse_body(json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent"})) == []
    for bad in ("nope", "[]", json.dumps({"Records": [{"s3": {}}]}), json.dumps({"Records": [1]})):
        with pytest.raises(records.MalformedMessage):
            records.parse_body(bad)


def test_job_ids_are_deterministic_short_and_valid_names() -> None:
    first = job_id_for("b", "incoming/x.mp4", object_version(None, '"abc"'))
    assert first == job_id_for("b", "incoming/x.mp4", object_version(None, "abc"))
    assert first != job_id_for("b", "incoming/x.mp4", object_version("v2", "abc"))
    assert first != job_id_for("b", "incoming/y.mp4", object_version(None, "abc"))
    assert len(first) == 32 and first.isalnum()
    name = processing_job_name(first)
    assert len(name) <= 63 and job_id_from_processing_job_name(name) == first
    assert job_id_from_processing_job_name("other-job") is None
    assert object_version("null", "e") == "e:e"  # unversioned objects report versionId "null"


def test_ignore_reasons() -> None:
    settings = Settings(input_bucket="in")
    assert routing.ignore_reason("in", "incoming/a.MP4", "ObjectCreated:Put", settings) is None
    assert (
        routing.ignore_reason("in", "batch/a.mov", "ObjectCreated:CompleteMultipartUpload", settings) is None
    )
    assert "outside" in str(routing.ignore_reason("in", "other/a.mp4", "ObjectCreated:Put", settings))
    assert "suffix" in str(routing.ignore_reason("in", "incoming/a.txt", "ObjectCreated:Put", settings))
    assert "input bucket" in str(routing.ignore_reason("x", "incoming/a.mp4", "ObjectCreated:Put", settings))
    assert "creation" in str(routing.ignore_reason("in", "incoming/a.mp4", "ObjectRemoved:Delete", settings))


def test_metadata_options_are_validated_and_normalized() -> None:
    wanted = routing.options_from_metadata(
        {"Max-Frames": "10", "fps": "2", "route": "Processing", "uploaded-by": "cli"}, {}
    )
    assert wanted.overrides == {"max_frames": "10", "fps": "2"}
    assert wanted.route_hint == "processing"
    assert wanted.ignored_keys == ("uploaded-by",)
    assert wanted.options.sampling.max_frames == 10
    for bad, named in (({"fps": "abc"}, "fps"), ({"model": "zzz"}, "zzz"), ({"weights": "a,b"}, "weights")):
        with pytest.raises(ParamError, match=named):
            routing.options_from_metadata(bad, {})


def test_custom_attributes_limits() -> None:
    assert (
        routing.custom_attributes("j", {"fps": "2", "mode": "keyframes"}) == "job_id=j,fps=2,mode=keyframes"
    )
    with pytest.raises(ParamError):
        routing.custom_attributes("j", {"weights": "s3://b/" + "x" * 1100})
    with pytest.raises(ParamError):
        routing.custom_attributes("j", {"weights": "s3://b/ü.pt"})


def test_content_type() -> None:
    assert routing.content_type_for("a.mov", "binary/octet-stream") == "video/quicktime"
    assert routing.content_type_for("a.bin", None) == "application/octet-stream"
    assert routing.content_type_for("a.mp4", "video/x-custom") == "video/x-custom"


def test_subject_is_ascii_and_bounded() -> None:
    subject = subject_for("SUCCEEDED", "视频" + "x" * 200 + ".mp4", "0123456789abcdef")
    assert subject.isascii() and len(subject) <= 100 and subject.endswith("(job 0123456789ab)")


def test_summary_extraction_from_a_prefix() -> None:
    document = json.dumps(
        {"schema_version": "1.0", "summary": {"frames_sampled": 4, "a": [1, {"b": "}"}]}, "frames": []}
    )
    assert extract_summary(document.encode(), complete=True)["frames_sampled"] == 4
    cut = document[: document.index('"frames"') + 5].encode()
    assert extract_summary(cut, complete=False)["a"] == [1, {"b": "}"}]
    with pytest.raises(OutputUnreadable):
        extract_summary(document[:30].encode(), complete=False)
    with pytest.raises(OutputUnreadable):
        extract_summary(b"[]", complete=True)


def test_time_parsing_and_durations() -> None:
    assert jobs.parse_time(1767225600000) == jobs.parse_time("2026-01-01T00:00:00Z")
    assert jobs.parse_time(1767225600) == jobs.parse_time("2026-01-01T00:00:00+00:00")
    assert jobs.parse_time("garbage") is None and jobs.parse_time(None) is None
    assert jobs.seconds_between("2026-01-01T00:00:00Z", 1767225610500) == 10.5
    assert jobs.iso(jobs.parse_time("2026-01-01T00:00:00.123Z")) == "2026-01-01T00:00:00.123Z"  # type: ignore[arg-type]


def test_processing_event_mapping() -> None:
    def event(status: str, name: str = "reelsight-abc") -> dict:
        return {
            "detail-type": "SageMaker Processing Job State Change",
            "source": "aws.sagemaker",
            "detail": {"ProcessingJobName": name, "ProcessingJobStatus": status},
        }

    assert isinstance(messages.parse_event(event("Stopping")), messages.Ignored)
    assert isinstance(messages.parse_event(event("Completed", "elsewhere")), messages.Ignored)
    stopped = messages.parse_event(event("Stopped"))
    assert (
        isinstance(stopped, messages.ResultEvent)
        and stopped.status == "FAILED"
        and "stopped" in str(stopped.reason)
    )
    running = messages.parse_event(event("InProgress"))
    assert (
        isinstance(running, messages.ResultEvent) and running.status == "RUNNING" and running.job_id == "abc"
    )


def test_processing_request_encrypts_volumes_only_where_sagemaker_allows() -> None:
    from lambdas.dispatch.submit import has_instance_storage, processing_request

    assert has_instance_storage("ml.g5.xlarge") and has_instance_storage("ml.g4dn.xlarge")
    assert has_instance_storage("ml.m5d.large") and has_instance_storage("ml.p4d.24xlarge")
    assert not has_instance_storage("ml.m5.xlarge") and not has_instance_storage("ml.c5.2xlarge")
    base: dict[str, Any] = {
        "processing_role_arn": "arn:aws:iam::1:role/r",
        "processing_image_uri": "img",
        "results_bucket": "res",
        "kms_key_arn": "arn:aws:kms:us-east-1:1:key/k",
    }
    ebs = processing_request(
        Settings(**base, processing_instance_type="ml.m5.xlarge"),
        job_id="j",
        input_location="s3://b/k",
        overrides={},
    )
    assert ebs["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == base["kms_key_arn"]
    assert ebs["ProcessingOutputConfig"]["KmsKeyId"] == base["kms_key_arn"]
    assert "NetworkConfig" not in ebs  # no subnets configured
    nvme = processing_request(
        Settings(**base, processing_instance_type="ml.g5.xlarge"),
        job_id="j",
        input_location="s3://b/k",
        overrides={},
    )
    assert "VolumeKmsKeyId" not in nvme["ProcessingResources"]["ClusterConfig"]
    with pytest.raises(Exception, match="REELSIGHT_PROCESSING_ROLE_ARN"):
        processing_request(Settings(), job_id="j", input_location="s3://b/k", overrides={})


def test_custom_attributes_carry_the_source_uri_percent_encoded() -> None:
    text = routing.custom_attributes("j", {"fps": "2"}, video_uri="s3://b/incoming/a b,ü.mp4")
    assert text == "job_id=j,fps=2,video_uri=s3://b/incoming/a%20b%2C%C3%BC.mp4"
    long_uri = "s3://b/" + "x" * 1100
    assert routing.custom_attributes("j", {}, video_uri=long_uri) == "job_id=j"
