"""Ingestion jobs (`POST /ingestion-jobs`, `GET /ingestion-jobs/{jobId}`): batches of notes.

The request is checked as a whole (400: no rows, more than 1,000, a reserved row type, a row
without caseId or note text), answered 202 at once, then processed in the background: the job
waits `START_DELAY`, turns running, and handles its rows one by one. Each row succeeds (a note on
the case, with its timeline item) or fails on its own (case not ours, Merged, eventDate in the
future); `GET` counts them. Status numbers are the published 0-4 with the sandbox's reading:
0 queued, 1 running, 2 done, 3 failed (every row failed), 4 cancelled (never used).
`/_sandbox/ingestion-jobs/{jobId}` shows every row's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.sandbox import rules
from bot.sandbox.api import guarded
from bot.sandbox.http import ApiFail, FieldErrors, Fields, json_body, not_found, path_uuid, sandbox_of
from bot.sandbox.model import NoteRec, iso, now

if TYPE_CHECKING:
    from bot.sandbox.app import Sandbox

QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED = 0, 1, 2, 3, 4
MAX_ROWS = 1000
START_DELAY = 0.2
"""Seconds a job stays queued before its rows are handled (it is never done at once)."""
ROW_DELAY = 0.005


@dataclass
class RowOutcome:
    index: int
    case_id: str
    description: str
    event_date: datetime | None
    external_ref: str | None
    status: str = "Pending"  # Pending | Succeeded | Failed
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "caseId": self.case_id,
            "externalRef": self.external_ref,
            "status": self.status,
            "error": self.error,
        }


@dataclass
class Job:
    id: str
    rows: list[RowOutcome]
    created_at: str
    status: int = QUEUED
    finished_at: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "rowsTotal": len(self.rows),
            "rowsSucceeded": sum(1 for r in self.rows if r.status == "Succeeded"),
            "rowsFailed": sum(1 for r in self.rows if r.status == "Failed"),
        }


class IngestionJobs:
    """The jobs of one sandbox and the tasks that work through them."""

    def __init__(self, start_delay: float = START_DELAY) -> None:
        self.start_delay = start_delay
        self.jobs: dict[str, Job] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def reset(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        self.jobs.clear()

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def submit(self, sb: Sandbox, rows: list[RowOutcome]) -> Job:
        job = Job(id=str(uuid.uuid4()), rows=rows, created_at=iso(now()))
        self.jobs[job.id] = job
        task = asyncio.get_running_loop().create_task(self._run(sb, job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def _run(self, sb: Sandbox, job: Job) -> None:
        await asyncio.sleep(self.start_delay)
        job.status = RUNNING
        for i, row in enumerate(job.rows):
            if i:
                await asyncio.sleep(ROW_DELAY)
            _handle(sb, row)
        # The last row's outcome and the final status land in the same step: a reader never sees
        # every row counted while the job still says Running.
        job.status = FAILED if job.rows and all(r.status == "Failed" for r in job.rows) else COMPLETED
        job.finished_at = iso(now())


def _handle(sb: Sandbox, row: RowOutcome) -> None:
    """One note row: succeeds with a note on the case, or fails with the reason."""
    case = sb.state.find(row.case_id)
    if case is None:
        row.status, row.error = "Failed", "Case not found or not assigned to you."
        return
    if case.lifecycle == "Merged":
        row.status, row.error = "Failed", "Merged cases are read-only."
        return
    if row.event_date is not None and row.event_date > now() + timedelta(seconds=5):
        row.status, row.error = "Failed", "The eventDate must not be in the future."
        return
    sb.state.materialize(case)
    ts = iso(now())
    note = NoteRec(
        id=str(uuid.uuid4()),
        description=row.description,
        created_at=ts,
        event_date=iso(row.event_date) if row.event_date else None,
        user_int_id=sb.state.partner.api_user_id,
        user_name=rules.api_actor_name(sb),
    )
    case.notes.append(note)
    rules.add_timeline(
        case, "Note", "Note", row.description, actor_type="Partner user", actor_name=note.user_name,
        when=note.event_date or ts,
    )
    sb.state.touch(case)
    row.status = "Succeeded"


def _rows(data: dict[str, Any]) -> list[RowOutcome]:
    f = Fields(data)
    raw = f.raw("rows")
    if raw is None:
        raise FieldErrors({"rows": ["The Rows field is required."]})
    if not isinstance(raw, list):
        raise FieldErrors({"rows": ["The JSON value could not be converted to a list of rows. Path: $.rows"]})
    if not raw:
        raise ApiFail(400, "NoRows", "rows must hold at least one row.")
    if len(raw) > MAX_ROWS:
        raise ApiFail(400, "TooManyRows", f"At most {MAX_ROWS} rows per job; got {len(raw)}.")
    errors: dict[str, list[str]] = {}
    out: list[RowOutcome] = []
    for i, item in enumerate(raw):
        where = f"rows[{i}]"
        if not isinstance(item, dict):
            errors.setdefault(where, []).append("Each row must be an object.")
            continue
        r = Fields(item)
        type_ = r.raw("type")
        if type_ is None:
            type_ = 0
        if isinstance(type_, bool) or not isinstance(type_, int):
            r.fail("type", "The JSON value could not be converted to PartnerIngestEventType.")
        elif type_ != 0:
            raise ApiFail(
                400,
                "UnsupportedRowType",
                f"Row {i} has type {type_}: only notes (type 0) are accepted; "
                "payment and status-update rows are reserved.",
            )
        case_id = r.uuid("caseId")
        if case_id is None and "caseId" not in r.errors:
            r.fail("caseId", "The CaseId field is required.")
        description = r.string("description", required=True, max_len=10_000)
        event_date = r.timestamp("eventDate")
        external_ref = r.string("externalRef")
        for key, messages in r.errors.items():
            errors.setdefault(f"{where}.{key}", []).extend(messages)
        if not r.errors:
            assert case_id is not None and description is not None
            out.append(RowOutcome(i, case_id, description, event_date, external_ref))
    if errors:
        raise FieldErrors(errors)
    return out


@guarded
async def create_job(request: Request) -> Response:
    sb = sandbox_of(request)
    key = rules._idempotency_key(request)
    data = await json_body(request)

    def produce() -> tuple[int, Any]:
        job = sb.ingestion.submit(sb, _rows(data))
        return 202, {"jobId": job.id, "rowsQueued": len(job.rows)}

    return await rules.run_idempotent(sb, request, key, rules._fingerprint("ingestion-jobs", data), produce)


def _job(request: Request) -> Job:
    job = sandbox_of(request).ingestion.jobs.get(path_uuid(request, "jobId"))
    if job is None:
        raise not_found("Job not found or not yours.")
    return job


@guarded
async def get_job(request: Request) -> Response:
    return JSONResponse(_job(request).to_json())


async def job_detail(request: Request) -> Response:
    """Control API: the job with every row's outcome."""
    job = _job(request)
    return JSONResponse(
        {"jobId": job.id, **job.to_json(), "createdAt": job.created_at, "finishedAt": job.finished_at,
         "rows": [r.to_json() for r in job.rows]}
    )


def routes() -> list[Route]:
    return [
        Route("/ingestion-jobs", create_job, methods=["POST"]),
        Route("/ingestion-jobs/{jobId}", get_job, methods=["GET"]),
    ]
