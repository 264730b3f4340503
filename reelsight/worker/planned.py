"""A Processing job with a plan (``plan.json``): a batch of videos, one part each, or one video cut
by time (:mod:`reelsight.worker.split_job`).

Each part's results go to the results bucket from this host as soon as the part is done, then its
completion marker; a part that fails writes its error record and the others go on. A part that
already has a marker (an earlier attempt finished it) is skipped, so a resume runs only the rest.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from reelsight.contract.batch import (
    ERROR_FILE,
    RANGE_PART_PREFIX,
    JobPlan,
    Part,
    PartError,
    PartMarker,
    part_prefix,
)
from reelsight.errors import ReelsightError
from reelsight.worker.part_store import PartStore
from reelsight.worker.processing import (
    InferFn,
    LoadFn,
    ProcessSettings,
    VideoOutcome,
    fail_before_any_video,
    job_message,
    list_videos,
    make_reporter,
    part_uploader,
    process_one,
    write_manifest,
    write_message,
)
from reelsight.worker.progress import ProgressReporter

log = logging.getLogger("reelsight.worker.planned")

NO_BUCKET = (
    "a batch or split job writes its parts to its results bucket, but the job's output S3Uri is not "
    "under jobs/<job id>/output/"
)


@dataclass
class HostRun:
    """What one host did: each part's outcome, and notes for the manifest and the ExitMessage."""

    settings: ProcessSettings
    started: float = field(default_factory=time.monotonic)
    outcomes: list[VideoOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    fatal: str | None = None
    fatal_code: int = 1

    def note(self, text: str) -> None:
        log.warning("%s", text)
        self.notes.append(text)

    def finish(self, assigned: int) -> int:
        """Manifest and ExitMessage; the exit code (non-zero when nothing could run or every part failed)."""
        counts = Counter(o.status for o in self.outcomes)
        write_manifest(
            self.settings, self.outcomes, counts, self.notes, self.fatal, time.monotonic() - self.started
        )
        message = job_message(self.settings, assigned, self.outcomes, counts, self.notes, self.fatal)
        write_message(self.settings.message_file, message)
        print(message)
        if self.fatal:
            return self.fatal_code
        failed = counts.get("failed", 0)
        if self.outcomes and (failed == len(self.outcomes) or (self.settings.fail_on_any_error and failed)):
            return 1
        return 0

    def fail(self, exc: Exception) -> None:
        self.fatal = f"{type(exc).__name__}: {exc}"
        self.fatal_code = exc.exit_code if isinstance(exc, ReelsightError) else 1


def run_planned(settings: ProcessSettings, plan: JobPlan, *, load: LoadFn, infer: InferFn) -> int:
    """Run this host's parts of ``plan``; the exit code."""
    bucket = settings.parts_bucket
    if not bucket:
        return fail_before_any_video(settings, NO_BUCKET, 2)
    import boto3

    # The plan names the prefix the input mirrors (the video channel's S3Uri is a manifest).
    settings = replace(settings, input_uri=plan.input_prefix)
    store = PartStore(boto3.client("s3"), bucket, plan.job_id)
    settings.output_dir.mkdir(parents=True, exist_ok=True)
    if plan.kind == "split":
        from reelsight.worker.split_job import run_split

        return run_split(settings, plan, store, load=load, infer=infer)
    return run_batch(settings, plan, store, load=load, infer=infer)


def run_batch(
    settings: ProcessSettings, plan: JobPlan, store: PartStore, *, load: LoadFn, infer: InferFn
) -> int:
    """Each video this host received is its part of the plan: run the ones without a marker."""
    run = HostRun(settings)
    work = _batch_work(settings, plan, store, run)
    reporter = make_reporter(settings)
    try:
        predictor = load(settings) if work and settings.mode == "infer" else None
        # A job of one video mirrors its frames.jsonl in S3 while it runs, as before plans.
        live = len(plan.parts) == 1
        for rel, part in work:
            outcome = run_batch_part(settings, store, rel, part, predictor, reporter, infer, live=live)
            run.outcomes.append(outcome)
    except Exception as exc:  # the model cannot load: no part can run
        run.fail(exc)
        for _, part in work[len(run.outcomes) :]:
            record_error(settings, store, part, type(exc).__name__, str(exc))
    finally:
        if reporter is not None:
            reporter.close()
    return run.finish(len(work))


def _batch_work(
    settings: ProcessSettings, plan: JobPlan, store: PartStore, run: HostRun
) -> list[tuple[Path, Part]]:
    received = list_videos(settings.input_dir) if settings.input_dir.is_dir() else []
    if not received:
        run.note(f"{settings.host.current_host} received no video: nothing to do here")
    work: list[tuple[Path, Part]] = []
    for rel in received:
        part = plan.part_for(rel.as_posix())
        if part is None:
            run.note(f"{rel.as_posix()} is not in the job plan: skipped")
        elif store.marker(part.part_id) is not None:
            run.note(f"{part.part_id} was done by an earlier attempt: skipped")
        else:
            work.append((rel, part))
    log.info(
        "%s (%d/%d): %d part(s) to run of %d in the plan, attempt %d",
        settings.host.current_host,
        settings.host.index + 1,
        settings.host.count,
        len(work),
        len(plan.parts),
        settings.attempt,
    )
    return work


def run_batch_part(
    settings: ProcessSettings,
    store: PartStore,
    rel: Path,
    part: Part,
    predictor: Any,
    reporter: ProgressReporter | None,
    infer: InferFn,
    *,
    live: bool = False,
) -> VideoOutcome:
    """One video: run it, upload its folder to its part prefix (then drop the local copy, so the
    job's own upload does not send it again), and mark it done; or record its error. ``live``:
    upload its frames as result parts while it runs."""
    parts = part_uploader(settings, part.part_id, single=live)
    # A batch video has a job record of its own: its progress goes there, where the API shows it.
    own = make_reporter(replace(settings, job_id=part.job_id)) if part.job_id else None
    try:
        outcome = process_one(settings, rel, part.part_id, predictor, own or reporter, infer, parts)
    finally:
        if own is not None:
            own.close()
    if outcome.error:
        record_error(settings, store, part, outcome.error["type"], outcome.error["message"])
        return outcome
    local = settings.output_dir / part.part_id
    try:
        store.upload_tree(local, part_prefix(store.job_id, part.part_id))
        store.clear_error(part.part_id)
        store.write_marker(marker_for(settings, part, outcome))
    except Exception as exc:  # S3 refused: the part is not done
        log.error("%s: results upload failed: %s", part.part_id, exc)
        record_error(settings, store, part, type(exc).__name__, f"results upload failed: {exc}")
        return replace(outcome, status="failed", error={"type": type(exc).__name__, "message": str(exc)})
    shutil.rmtree(local, ignore_errors=True)
    return outcome


def marker_for(
    settings: ProcessSettings,
    part: Part,
    outcome: VideoOutcome,
    *,
    start: float | None = None,
    end: float | None = None,
) -> PartMarker:
    return PartMarker(
        part_id=part.part_id,
        status="partial" if outcome.status == "partial" else "ok",
        frames=outcome.frames,
        seconds=round(outcome.seconds, 3),
        host=settings.host.current_host,
        attempt=settings.attempt,
        start=start,
        end=end,
    )


def record_error(settings: ProcessSettings, store: PartStore, part: Part, kind: str, message: str) -> None:
    """The part's error record, in S3 and in its local folder (the job's upload sends the same bytes)."""
    error = PartError(
        part_id=part.part_id,
        video=part.video,
        type=kind,
        message=message or kind,
        host=settings.host.current_host,
        attempt=settings.attempt,
    )
    if not part.part_id.startswith(RANGE_PART_PREFIX):
        local = settings.output_dir / part.part_id
        local.mkdir(parents=True, exist_ok=True)
        (local / ERROR_FILE).write_text(error.to_json() + "\n", encoding="utf-8")
    try:
        store.write_error(error)
    except Exception as exc:  # logged; the results handler then reports the part as not finished
        log.error("%s: cannot write its error record: %s", part.part_id, exc)
