"""Commissioner reports over HTTP: reach and outcomes as aggregates, JSON or CSV (``format=csv``),
and the district populations (a CSV upload) that reach per 1,000 people needs.

Only commissioners and admins may read them, and every figure is published through small-number
suppression (api/published.py): a count under `api.small_number_threshold` is "<5". Days are UTC
days; a range is [start, end)."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response
from pydantic import BaseModel
from sqlalchemy.orm import Session
from starlette.datastructures import UploadFile

from tecwatch.api import outcomes, published, publishedtimes, reach
from tecwatch.api.deps import REPORT_READERS, errors, registry, require
from tecwatch.api.outcomes import AckTimes, AlertRate, DeviceFaults, OutcomeDistribution, StillAtHome
from tecwatch.api.timings import AnswerReport, AttendReport, AttendTimes, OutcomeTimes, OutcomeTimesReport
from tecwatch.api.reach import DistrictReach, MonthReach, ReachOnDay
from tecwatch.api.reporting import ReportInputError, to_csv

router = APIRouter(prefix="/api/reports", tags=["reports"], dependencies=[Depends(require(*REPORT_READERS))],
                   responses=errors(401, 403, 422))

MAX_UPLOAD_BYTES = 1_000_000
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
# What browsers and tools send for a .csv file; anything else (JSON, forms) is refused.
_CSV_BODY_TYPES = {"", "text/csv", "text/plain", "application/csv", "application/vnd.ms-excel",
                   "application/octet-stream"}
_CSV_RESPONSE = {200: {"content": {"text/csv": {"schema": {"type": "string"}}},
                       "description": "The report as JSON, or as CSV with format=csv"}}

Format = Annotated[Literal["json", "csv"], Query(alias="format", description="json (the default) or csv")]
Day = Annotated[date | None, Query(description="A UTC day, YYYY-MM-DD; today if left out")]
Start = Annotated[date | None, Query(description="First day, YYYY-MM-DD (included); from the start if left out")]
End = Annotated[date | None, Query(description="The day after the last, YYYY-MM-DD (not included)")]
District = Annotated[str | None, Query(max_length=80, description="Only this district")]
Priority = Annotated[int | None, Query(ge=1, le=4, description="Only alerts of this priority (1: alarm calls, "
                                                               "which the 60 s target is for)")]
Registry = Annotated[Session, Depends(registry, scope="function")]


def _threshold(request: Request) -> int:
    return request.app.state.settings.api.small_number_threshold


Threshold = Annotated[int, Depends(_threshold)]

T = TypeVar("T")


class PopulationLoaded(BaseModel):
    districts: int
    source: str


def _today() -> date:
    return datetime.now(UTC).date()


def _district(district: str | None) -> str | None:
    """A blank district (``district=``, as an empty form field sends) means every district."""
    if district is None:
        return None
    return district.strip() or None


def _run(fn: Callable[..., T], *args: Any) -> T:
    try:
        return fn(*args)
    except ReportInputError as err:
        raise HTTPException(422, str(err)) from err


def _reply(fmt: str, report: str, day: date, value: Any, rows: Sequence[BaseModel], model: type[BaseModel]) -> Any:
    """The report as JSON (through the route's response model), or its flat rows as a CSV file."""
    if fmt != "csv":
        return value
    return Response(_run(lambda: to_csv(rows, model=model)), media_type=CSV_MEDIA_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{report}-{day.isoformat()}.csv"'})


# --- Reach -------------------------------------------------------------------------------------

@router.get("/reach", response_model=ReachOnDay, responses=_CSV_RESPONSE)
def reach_on_day(session: Registry, small: Threshold, day: Day = None, district: District = None,
                 fmt: Format = "json") -> Any:
    """Homes with assistive technology at the end of a day, by district, device type and primary need.
    The CSV has one row per figure (breakdown, key, homes)."""
    day = day or _today()
    r = _run(published.reach_on, session, day, _district(district), small)
    return _reply(fmt, "reach", day, r, r.rows(), reach.ReachRow)


@router.get("/reach/monthly", response_model=list[MonthReach], responses=_CSV_RESPONSE)
def reach_monthly(session: Registry, small: Threshold, start: Start = None, end: End = None,
                  district: District = None, fmt: Format = "json") -> Any:
    """Per month: homes active at its end, new, ended and net growth."""
    rows = _run(published.reach_by_month, session, start, end, _district(district), small)
    return _reply(fmt, "reach-monthly", _today(), rows, rows, MonthReach)


@router.get("/reach/per-1000", response_model=list[DistrictReach], responses=_CSV_RESPONSE)
def reach_per_1000(session: Registry, small: Threshold, day: Day = None, district: District = None,
                   fmt: Format = "json") -> Any:
    """Homes per 1,000 people aged 65 and over, per district (empty where no population is loaded)."""
    day = day or _today()
    rows = _run(published.reach_per_thousand, session, day, _district(district), small)
    return _reply(fmt, "reach-per-1000", day, rows, rows, DistrictReach)


async def _csv_upload(request: Request) -> str:
    """The CSV text of the request: its body (text/csv) or a multipart form's `file` field."""
    content_type = request.headers.get("content-type", "")
    media = content_type.split(";")[0].strip().lower()
    if media == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise HTTPException(422, "send the CSV file in the multipart field 'file'")
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            charset = (upload.content_type or "").partition("charset=")[2]
    elif media in _CSV_BODY_TYPES:
        data = bytearray()
        async for chunk in request.stream():
            data += chunk
            if len(data) > MAX_UPLOAD_BYTES:
                break
        charset = content_type.partition("charset=")[2]
    else:
        raise HTTPException(415, f"send the populations as text/csv (or a multipart file), not {media}")
    if len(data) > MAX_UPLOAD_BYTES:
        raise HTTPException(413, f"the file is larger than {MAX_UPLOAD_BYTES:,} bytes")
    encoding = charset.split(";")[0].strip().strip('"') or "utf-8"
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise HTTPException(415, f"unknown charset {encoding!r}") from None
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as err:
        raise HTTPException(422, f"the file is not {encoding} text (byte {err.start}); save it as CSV UTF-8") from None


@router.put("/population", response_model=PopulationLoaded, responses=errors(400, 413, 415), openapi_extra={"requestBody": {
    "required": True,
    "content": {
        "text/csv": {"schema": {"type": "string"}, "example": "district,aged_65_plus\nNorwich,19000\n"},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"],
                                           "properties": {"file": {"type": "string", "format": "binary"}}}},
    }}})
def load_population(text: Annotated[str, Depends(_csv_upload)], session: Registry,
                    source: Annotated[str, Query(max_length=200, description="Where the figures come from")] = ""
                    ) -> PopulationLoaded:
    """Set people aged 65 and over per district from a `district,aged_65_plus` CSV. Districts already
    loaded are updated, others kept. A bad line loads nothing (422, naming the line)."""
    return PopulationLoaded(districts=_run(reach.load_population_csv, session, text, source), source=source)


# --- Outcomes ----------------------------------------------------------------------------------

@router.get("/alert-rates", response_model=list[AlertRate], responses=_CSV_RESPONSE)
def alert_rates(session: Registry, small: Threshold, start: Start = None, end: End = None,
                district: District = None, fmt: Format = "json") -> Any:
    """Alerts per 100 homes with technology, per month and rule."""
    rows = _run(published.alert_rates, session, start, end, _district(district), small)
    return _reply(fmt, "alert-rates", _today(), rows, rows, AlertRate)


@router.get("/acknowledgement", response_model=AckTimes, responses=_CSV_RESPONSE)
def acknowledgement(session: Registry, small: Threshold, start: Start = None, end: End = None,
                    district: District = None, priority: Priority = None, fmt: Format = "json",
                    part: Annotated[Literal["summary"], Query(
                        description="The one-row summary (the list of slow alerts is the monitoring centre's: "
                                    "GET /api/alerts/slow-acknowledgements)")] = "summary") -> Any:
    """Time to answer: from raising an alert to the monitoring centre's first acknowledgement (a
    family member's does not count). Counts, shares within 60 s and 180 s of every alert answered or
    never answered (a miss), median and 90th percentile of those answered. The CSV is the one-row
    summary; by priority and month: GET /api/reports/time-to-answer."""
    r = _run(published.time_to_acknowledge, session, start, end, _district(district), small, priority)
    return _reply(fmt, "acknowledgement", _today(), r, r.rows(), AckTimes)


@router.get("/time-to-answer", response_model=AnswerReport, responses=_CSV_RESPONSE)
def time_to_answer(session: Registry, small: Threshold, start: Start = None, end: End = None,
                   district: District = None, priority: Priority = None, fmt: Format = "json") -> Any:
    """Time to answer (as /acknowledgement) for every alert, by priority and by month. The CSV has
    one row each (priority and month empty for every one)."""
    r = _run(publishedtimes.time_to_answer, session, start, end, _district(district), priority, small)
    return _reply(fmt, "time-to-answer", _today(), r, r.rows(), AckTimes)


@router.get("/time-to-attend", response_model=AttendReport, responses=_CSV_RESPONSE)
def time_to_attend(session: Registry, small: Threshold, start: Start = None, end: End = None,
                   district: District = None, priority: Priority = None, fmt: Format = "json") -> Any:
    """From raising an alert to a responder's arrival (the first "arrived" in its trail), in
    minutes: every alert, by priority and by month."""
    r = _run(publishedtimes.time_to_attend, session, start, end, _district(district), priority, small)
    return _reply(fmt, "time-to-attend", _today(), r, r.rows(), AttendTimes)


@router.get("/alarm-to-outcome", response_model=OutcomeTimesReport, responses=_CSV_RESPONSE)
def alarm_to_outcome(session: Registry, small: Threshold, start: Start = None, end: End = None,
                     district: District = None, priority: Priority = None, fmt: Format = "json") -> Any:
    """From raising an alert to its resolution, in minutes, by outcome and by priority, with the
    same alerts' time to answer and to attend."""
    r = _run(publishedtimes.alarm_to_outcome, session, start, end, _district(district), priority, small)
    return _reply(fmt, "alarm-to-outcome", _today(), r, r.rows(), OutcomeTimes)


@router.get("/outcomes", response_model=OutcomeDistribution, responses=_CSV_RESPONSE)
def outcome_distribution(session: Registry, small: Threshold, start: Start = None, end: End = None,
                         district: District = None, fmt: Format = "json") -> Any:
    """How resolved alerts ended, every outcome listed."""
    r = _run(published.outcome_distribution, session, start, end, _district(district), small)
    return _reply(fmt, "outcomes", _today(), r, r.rows(), outcomes.OutcomeShare)


@router.get("/still-at-home", response_model=StillAtHome, responses=_CSV_RESPONSE)
def still_at_home(session: Registry, small: Threshold, day: Day = None, district: District = None,
                  fmt: Format = "json") -> Any:
    """People still living at home 91 and 365 days after their home's first installation."""
    day = day or _today()
    r = _run(published.still_at_home, session, day, _district(district), small)
    return _reply(fmt, "still-at-home", day, r, r.rows(), outcomes.Retention)


@router.get("/device-faults", response_model=list[DeviceFaults], responses=_CSV_RESPONSE)
def device_faults(session: Registry, small: Threshold, start: Start = None, end: End = None,
                  district: District = None, fmt: Format = "json") -> Any:
    """Device health alerts per 100 devices in use, per device type (hub_offline counts against the gateway)."""
    rows = _run(published.device_fault_rates, session, start, end, _district(district), small)
    return _reply(fmt, "device-faults", _today(), rows, rows, DeviceFaults)
