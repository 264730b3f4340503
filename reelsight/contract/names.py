"""Names shared across reelsight: S3 prefixes and keys, video suffixes, job and index names, S3 URIs.

Input bucket: uploads land under ``incoming/`` (async route unless they are large) and batch drops
under ``batch/`` (always a Processing job); videos kept under ``library/`` start nothing by themselves
and are there for batch jobs to name. S3 notifies the dispatcher of every object under these
two prefixes; the dispatcher decides with :func:`is_video_key` which ones become jobs.

Results bucket, per job::

    jobs/<job_id>/               job_prefix(job_id)
    jobs/<job_id>/artifacts/     artifacts_prefix(job_id): what the async worker uploads
    jobs/<job_id>/output/        output_prefix(job_id): a Processing job's results
    .../frames.jsonl             FRAMES_FILE: one JSON line per sampled frame
    jobs/<job_id>/artifacts/parts/frames-00001.jsonl
                                 part_key(job_id, i): the frames so far, in ordered parts, while
                                 the job runs (their concatenation equals frames.jsonl)
    .../summary.json             SUMMARY_FILE: the run summary
    .../tracks.jsonl             TRACKS_FILE: one JSON line per track, when the run tracked
    async/output, async/failure  the async endpoint's S3OutputPath and S3FailurePath
"""

from __future__ import annotations

import posixpath
import re
from urllib.parse import quote, unquote

# --- input bucket ---
UPLOAD_PREFIX = "incoming/"
BATCH_PREFIX = "batch/"
WATCHED_PREFIXES: tuple[str, ...] = (UPLOAD_PREFIX, BATCH_PREFIX)
# Videos kept for batch jobs: nothing under it starts a job on its own (S3 does not notify it).
LIBRARY_PREFIX = "library/"
# Where a Processing job may read videos from (its role's grant and the dispatcher's check agree).
VIDEO_SOURCE_PREFIXES: tuple[str, ...] = (*WATCHED_PREFIXES, LIBRARY_PREFIX)

# --- results bucket ---
JOBS_PREFIX = "jobs/"
ARTIFACTS_FOLDER = "artifacts/"
OUTPUT_FOLDER = "output/"
FRAMES_FILE = "frames.jsonl"
SUMMARY_FILE = "summary.json"
TRACKS_FILE = "tracks.jsonl"
PARTS_FOLDER = "parts/"
ASYNC_OUTPUT_PATH = "async/output"
ASYNC_FAILURE_PATH = "async/failure"

# --- AWS names ---
PROCESSING_JOB_PREFIX = "reelsight-"
STATUS_INDEX = "by_status"  # the jobs table's index: partition key status, sort key created_at
# Template metadata key naming a resource's role (e.g. "upload-queue"), for tools that read the templates.
ROLE_METADATA_KEY = "reelsight:role"

# --- videos: the one list the API, the dispatcher and the worker accept, matched in any case ---
VIDEO_CONTENT_TYPES: dict[str, str] = {
    ".mp4": "video/mp4",
    ".mov": "video/quicktime",
    ".m4v": "video/mp4",
    ".mkv": "video/x-matroska",
    ".webm": "video/webm",
    ".avi": "video/x-msvideo",
    ".mpg": "video/mpeg",
    ".mpeg": "video/mpeg",
    ".ts": "video/mp2t",
}
VIDEO_SUFFIXES: tuple[str, ...] = tuple(VIDEO_CONTENT_TYPES)
OCTET_STREAM = "application/octet-stream"
_SUFFIX_RULE = re.compile(r"^\.[a-z0-9]{1,16}$")

S3_SCHEME = "s3://"


def job_prefix(job_id: str, root: str = JOBS_PREFIX) -> str:
    """``jobs/<job_id>/``: everything a job leaves in the results bucket is under it."""
    return f"{root}{job_id}/"


def artifacts_prefix(job_id: str, root: str = JOBS_PREFIX) -> str:
    return job_prefix(job_id, root) + ARTIFACTS_FOLDER


def parts_prefix(job_id: str, root: str = JOBS_PREFIX) -> str:
    """``jobs/<job_id>/artifacts/parts/``: a running job's frames, in parts."""
    return artifacts_prefix(job_id, root) + PARTS_FOLDER


def part_key(job_id: str, index: int, root: str = JOBS_PREFIX) -> str:
    """``jobs/<job_id>/artifacts/parts/frames-00001.jsonl``: part ``index`` (1-based, 5 digits, so
    the keys sort in order)."""
    if index < 1:
        raise ValueError(f"part indexes start at 1, got {index}")
    return f"{parts_prefix(job_id, root)}frames-{index:05d}.jsonl"


def output_prefix(job_id: str) -> str:
    return job_prefix(job_id) + OUTPUT_FOLDER


def processing_job_name(job_id: str) -> str:
    """``reelsight-<job id>``: 42 characters for a 32-character id, within SageMaker's 63."""
    return f"{PROCESSING_JOB_PREFIX}{job_id}"


def job_id_from_processing_job_name(name: str) -> str | None:
    """Inverse of :func:`processing_job_name`; ``None`` for jobs reelsight did not start."""
    if not name.startswith(PROCESSING_JOB_PREFIX):
        return None
    return name[len(PROCESSING_JOB_PREFIX) :] or None


def watched_prefix(key: str) -> str | None:
    """The input prefix (upload or batch) ``key`` is under, or None."""
    return next((prefix for prefix in WATCHED_PREFIXES if key.startswith(prefix)), None)


def file_suffix(name: str) -> str:
    """The lower-case suffix of a file name or S3 key (``""`` without one; ``.mp4`` alone has none)."""
    return posixpath.splitext(name)[1].lower()


def is_video_key(key: str, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> bool:
    """True when ``key`` names a file (not a folder) whose suffix, in any case, is one of ``suffixes``."""
    return not key.endswith("/") and file_suffix(key) in suffixes


def accepted_suffixes(suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> str:
    """The suffixes as a message names them: ``.mp4, .mov, ... (any case)``."""
    return f"{', '.join(suffixes)} (any case)"


def video_content_type(name: str) -> str:
    """The content type of a video file name or S3 key, by suffix (case-insensitive)."""
    return VIDEO_CONTENT_TYPES.get(file_suffix(name), OCTET_STREAM)


def suffix_for_content_type(content_type: str) -> str | None:
    """The first suffix whose content type is ``content_type`` (``video/mp4`` -> ``.mp4``), or None."""
    media = content_type.split(";")[0].strip().lower()
    return next((suffix for suffix, kind in VIDEO_CONTENT_TYPES.items() if kind == media), None)


def parse_video_suffixes(text: str | None) -> tuple[str, ...]:
    """A comma-separated override (``REELSIGHT_VIDEO_SUFFIXES``) as lower-case dotted suffixes.

    Empty means :data:`VIDEO_SUFFIXES`. Entries may leave out the dot and use any case; ValueError
    names an entry that :func:`is_video_key` could never match (``.tar.gz``, ``mp 4``, ``.``).
    """
    entries = [part.strip().lower() for part in (text or "").split(",") if part.strip()]
    suffixes = tuple(dict.fromkeys(entry if entry.startswith(".") else f".{entry}" for entry in entries))
    invalid = [suffix for suffix in suffixes if not _SUFFIX_RULE.match(suffix)]
    if invalid:
        raise ValueError(
            f"video suffixes must be a dot and 1-16 letters or digits, such as .mp4; got {', '.join(invalid)}"
        )
    return suffixes or VIDEO_SUFFIXES


def s3_uri(bucket: str, key: str = "") -> str:
    return f"{S3_SCHEME}{bucket}/{key}"


def uri_attribute(uri: str) -> str:
    """``uri`` as one value of SageMaker custom attributes: percent-encoded, so printable ASCII
    without ``,``, ``;`` or ``=``. ``uri_from_attribute`` gives back exactly ``uri``."""
    return quote(uri, safe="/:")


def uri_from_attribute(text: str) -> str:
    """The URI that ``uri_attribute`` encoded (a key's own ``%``, ``+`` and spaces come back as they were)."""
    return unquote(text)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> ``(bucket, key)``; the key may be empty or a prefix. ValueError otherwise.

    Plain string slicing, not urllib: a key may hold ``?`` or ``#``, which a URL parser would cut off.
    """
    if not isinstance(uri, str) or not uri.startswith(S3_SCHEME):
        raise ValueError(f"not an S3 URI (s3://bucket/key): {uri!r}")
    bucket, _, key = uri[len(S3_SCHEME) :].partition("/")
    if not bucket:
        raise ValueError(f"S3 URI without a bucket: {uri!r}")
    return bucket, key


def s3_location_or_none(value: object) -> tuple[str, str] | None:
    """``(bucket, key)`` when ``value`` is an ``s3://`` URI with a non-empty key, else None.

    For fields that other components wrote and that may be missing or malformed.
    """
    if not isinstance(value, str):
        return None
    try:
        bucket, key = split_s3_uri(value)
    except ValueError:
        return None
    return (bucket, key) if key else None
