"""Pure logic of the Lambdas: parsing, ids, routing, summaries; import walls: pyproject.toml."""

from __future__ import annotations

import json

import pytest

from lambdas.common.jobids import job_id_for, object_version
from lambdas.common.notify import subject_for
from lambdas.common.settings import Settings
from lambdas.dispatch import records, routing
from lambdas.results import messages
from lambdas.results.summary import OutputUnreadable, parse_summary
from reelsight import envvars
from reelsight.contract.names import job_id_from_processing_job_name, processing_job_name
from reelsight.contract.summary import RunSummary, Timings
from reelsight.errors import ParamError


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
    assert "folder" in str(routing.ignore_reason("in", "incoming/a/", "ObjectCreated:Put", settings))
    # Not a video, but an upload: recorded as REJECTED by the dispatcher, not ignored.
    assert routing.ignore_reason("in", "incoming/a.txt", "ObjectCreated:Put", settings) is None
    assert "input bucket" in str(routing.ignore_reason("x", "incoming/a.mp4", "ObjectCreated:Put", settings))
    assert "creation" in str(routing.ignore_reason("in", "incoming/a.mp4", "ObjectRemoved:Delete", settings))


@pytest.mark.parametrize("key", ["incoming/CLIP.MP4", "incoming/b.MOV", "batch/c.Ts", "incoming/d.mpeg"])
def test_videos_in_any_case_are_not_rejected(key: str) -> None:
    assert routing.rejection_reason(key, Settings()) is None


@pytest.mark.parametrize(
    "key", ["incoming/notes.txt", "incoming/clip.mp4.part", "incoming/mp4", "incoming/.mp4"]
)
def test_non_videos_are_rejected_with_the_accepted_suffixes(key: str) -> None:
    reason = str(routing.rejection_reason(key, Settings()))
    assert "not a supported video" in reason
    assert ".mp4, .mov, .m4v, .mkv, .webm, .avi, .mpg, .mpeg, .ts (any case)" in reason


def test_video_suffixes_override_is_normalized_and_validated() -> None:
    settings = Settings.from_env({envvars.VIDEO_SUFFIXES_OVERRIDE: " MP4, .mov ,mp4"})
    assert settings.video_suffixes == (".mp4", ".mov")
    assert routing.rejection_reason("incoming/a.MOV", settings) is None
    assert ".mp4, .mov (any case)" in str(routing.rejection_reason("incoming/a.mkv", settings))
    assert (
        Settings.from_env({envvars.VIDEO_SUFFIXES_OVERRIDE: " , "}).video_suffixes
        == Settings().video_suffixes
    )
    with pytest.raises(ValueError, match=r"REELSIGHT_VIDEO_SUFFIXES.*\.tar\.gz"):
        Settings.from_env({envvars.VIDEO_SUFFIXES_OVERRIDE: "mp4,.tar.gz"})


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


def test_summary_is_parsed_from_the_body_or_an_older_document() -> None:
    summary = RunSummary(frames_sampled=4, model={"name": "ssdlite"}, timings=Timings(total=1.5))
    body = json.dumps(summary.to_json()).encode()
    assert parse_summary(body) == summary
    older = json.dumps({"schema_version": "1.0", "summary": summary.to_json(), "frames": []}).encode()
    assert parse_summary(older) == summary
    for unreadable in (b"[]", b"not json", b'{"summary": 1}', body[:30], b"\xff\xfe"):
        with pytest.raises(OutputUnreadable):
            parse_summary(unreadable)


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
    from dataclasses import replace

    from lambdas.dispatch.submit import ConfigurationError, processing_request
    from reelsight.contract.processing import ProcessingJobDefinition, has_instance_storage

    assert has_instance_storage("ml.g5.xlarge") and has_instance_storage("ml.g4dn.xlarge")
    assert has_instance_storage("ml.m5d.large") and has_instance_storage("ml.p4d.24xlarge")
    assert not has_instance_storage("ml.m5.xlarge") and not has_instance_storage("ml.c5.2xlarge")
    key = "arn:aws:kms:us-east-1:1:key/k"
    ebs_definition = ProcessingJobDefinition(
        role_arn="arn:aws:iam::1:role/r",
        image_uri="img",
        instance_type="ml.m5.xlarge",
        results_bucket="res",
        kms_key_arn=key,
    )
    ebs = processing_request(
        Settings(processing=ebs_definition), job_id="j", input_location="s3://b/k", overrides={}
    )
    assert ebs["ProcessingResources"]["ClusterConfig"]["VolumeKmsKeyId"] == key
    assert ebs["ProcessingOutputConfig"]["KmsKeyId"] == key
    assert "NetworkConfig" not in ebs  # no subnets configured
    nvme = processing_request(
        Settings(processing=replace(ebs_definition, instance_type="ml.g5.xlarge")),
        job_id="j",
        input_location="s3://b/k",
        overrides={},
    )
    assert "VolumeKmsKeyId" not in nvme["ProcessingResources"]["ClusterConfig"]
    with pytest.raises(ConfigurationError, match=envvars.PROCESSING_JOB_DEFINITION):
        processing_request(Settings(), job_id="j", input_location="s3://b/k", overrides={})


def test_custom_attributes_carry_the_source_uri_percent_encoded() -> None:
    text = routing.custom_attributes("j", {"fps": "2"}, video_uri="s3://b/incoming/a b,ü.mp4")
    assert text == "job_id=j,fps=2,video_uri=s3://b/incoming/a%20b%2C%C3%BC.mp4"
    long_uri = "s3://b/" + "x" * 1100
    assert routing.custom_attributes("j", {}, video_uri=long_uri) == "job_id=j"
