"""reelsight.contract.names: the one place for prefixes, key layout, video suffixes and S3 URIs."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

from reelsight.contract import names

REPO = Path(__file__).resolve().parents[2]


def test_the_contract_imports_only_the_standard_library() -> None:
    code = (
        "import sys, json\n"
        "before = set(sys.modules)\n"
        "import reelsight.contract.names\n"
        "heavy = ('boto3', 'botocore', 'numpy', 'torch', 'fastapi', 'pydantic', 'av', 'cv2', 'aws_cdk')\n"
        "print(json.dumps(sorted(m for m in set(sys.modules) - before if m.split('.')[0] in heavy)))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert json.loads(out.stdout.strip()) == []


@pytest.mark.parametrize(
    "key", ["incoming/CLIP.MP4", "incoming/a/b.MOV", "batch/c.ts", "incoming/d.Mpeg", "incoming/x y.webm"]
)
def test_videos_match_in_any_case(key: str) -> None:
    assert names.is_video_key(key)


@pytest.mark.parametrize(
    "key",
    ["incoming/notes.txt", "incoming/clip.mp4/", "incoming/mp4", "incoming/.mp4", "incoming/a.mp4.part"],
)
def test_other_keys_are_not_videos(key: str) -> None:
    assert not names.is_video_key(key)


def test_every_suffix_has_a_content_type_and_back() -> None:
    assert tuple(names.VIDEO_CONTENT_TYPES) == names.VIDEO_SUFFIXES
    assert all(s == s.lower() and s.startswith(".") for s in names.VIDEO_SUFFIXES)
    assert names.video_content_type("incoming/C.TS") == "video/mp2t"
    assert names.video_content_type("notes.txt") == names.OCTET_STREAM
    for kind in set(names.VIDEO_CONTENT_TYPES.values()):
        suffix = names.suffix_for_content_type(f"{kind.upper()}; codecs=x")
        assert suffix is not None and names.VIDEO_CONTENT_TYPES[suffix] == kind
    assert names.suffix_for_content_type("text/plain") is None


def test_suffix_override_is_normalized_and_validated() -> None:
    assert names.parse_video_suffixes(None) == names.VIDEO_SUFFIXES
    assert names.parse_video_suffixes(" , ") == names.VIDEO_SUFFIXES
    assert names.parse_video_suffixes("MP4, .Mov,mp4") == (".mp4", ".mov")
    for bad in ("mp4,.tar.gz", "mp 4", ".", "x" * 17):
        with pytest.raises(ValueError, match="video suffixes"):
            names.parse_video_suffixes(bad)


def test_job_layout() -> None:
    job = "0123abcd"
    assert names.job_prefix(job) == "jobs/0123abcd/"
    assert names.artifacts_prefix(job) == "jobs/0123abcd/artifacts/"
    assert names.artifacts_prefix(job, root="custom/") == "custom/0123abcd/artifacts/"
    assert names.output_prefix(job) == "jobs/0123abcd/output/"
    assert names.job_id_from_processing_job_name(names.processing_job_name(job)) == job
    assert names.job_id_from_processing_job_name("reelsight-") is None
    assert names.job_id_from_processing_job_name("someone-else") is None
    assert names.watched_prefix("batch/x.mp4") == names.BATCH_PREFIX
    assert names.watched_prefix("elsewhere/x.mp4") is None


@pytest.mark.parametrize("key", ["incoming/a b/c.mp4", "odd?query#frag.mp4", "", "jobs/x/"])
def test_s3_uris_round_trip(key: str) -> None:
    assert names.split_s3_uri(names.s3_uri("bucket", key)) == ("bucket", key)


def test_s3_uri_splitting_refuses_what_is_not_one() -> None:
    for bad in ("http://bucket/key", "s3://", "s3:///key", "bucket/key"):
        with pytest.raises(ValueError):
            names.split_s3_uri(bad)
    assert names.split_s3_uri("s3://bucket") == ("bucket", "")
    assert names.s3_location_or_none("s3://bucket/key") == ("bucket", "key")
    for value in (None, 3, "s3://bucket/", "s3://bucket", "https://x/y"):
        assert names.s3_location_or_none(value) is None


# Values the contract owns. A string literal equal to one of them elsewhere is a second definition.
OWNED = {
    names.UPLOAD_PREFIX,
    names.BATCH_PREFIX,
    names.JOBS_PREFIX,
    names.STATUS_INDEX,
    names.ROLE_METADATA_KEY,
    names.PROCESSING_JOB_PREFIX,
    names.ASYNC_OUTPUT_PATH,
    names.ASYNC_FAILURE_PATH,
    names.S3_SCHEME,
}


def _owned_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [
        f"{path.relative_to(REPO)}:{node.lineno}: {node.value!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in OWNED
    ]


def test_no_module_spells_the_contract_names_itself() -> None:
    sources = [REPO / "app.py"] + [
        path for root in ("reelsight", "lambdas", "stacks") for path in (REPO / root).rglob("*.py")
    ]
    found = [hit for path in sources if "contract" not in path.parts for hit in _owned_literals(path)]
    assert found == []
