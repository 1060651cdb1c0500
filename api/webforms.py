"""What the enrolment pages share: who may use them, reading posted forms into the registry
services' input, and the services' (field, reason) problems as messages next to the fields.

Form fields are named as the services name them ("home.postcode"), so a problem finds its
field; a list's problem ("phones.1") belongs to the list's one field ("phones")."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from tecwatch.api.access import Principal
from tecwatch.api.web import TEMPLATES
from tecwatch.registry.changes import Conflict, Invalid
from tecwatch.registry.fields import LOCAL_ZONE
from tecwatch.registry.vocab import UserRole

ENROLMENT = (UserRole.COORDINATOR, UserRole.ADMIN)  # the TEC team, and admins

# Pydantic's wording, in words for the people filling the form in.
_PLAIN = {
    "String should have at least 1 character": "enter this",
    "Field required": "enter this",
    "Input should be a valid date or datetime, input is too short": "enter a date",
    "Input should be a valid integer, unable to parse string as an integer": "enter a number",
    "Input should be a valid time": "enter a time (HH:MM)",
    "List should have at least 1 item after validation, not 0": "choose at least one",
    "Input should be greater than or equal to 1": "enter 1 or more",
}


async def posted(request: Request) -> FormData:
    """The posted form, read before the (synchronous) page function runs in its thread."""
    return await request.form()


def actor(who: Principal) -> str:
    """How the audit names someone who changed a record from the pages."""
    return f"{who.username} ({who.role.value})"


def render(request: Request, name: str, who: Principal, status_code: int = 200, **context: Any) -> HTMLResponse:
    return TEMPLATES.TemplateResponse(request, name, {"who": who, "errors": {}, **context}, status_code=status_code)


def text(form: Mapping[str, Any], name: str, limit: int = 4000) -> str:
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def optional(form: Mapping[str, Any], name: str, limit: int = 4000) -> str | None:
    """A blank field is "not given" (None), which the services read as empty or unknown."""
    return text(form, name, limit) or None


def many(form: FormData, name: str, limit: int = 40) -> list[str]:
    return [v.strip()[:200] for v in form.getlist(name)[:limit] if isinstance(v, str) and v.strip()]


def split_list(value: str, limit: int = 10) -> list[str]:
    """"01603 123456, 07700 900123" as a list (the services check each one)."""
    return [p.strip() for p in value.replace(";", ",").split(",") if p.strip()][:limit]


def version(form: Mapping[str, Any]) -> int:
    """The record's version as the form was made with it. A form without one matches no version
    (they start at 1), so a change is never made blind over someone else's."""
    value = text(form, "version", 9)
    return int(value) if value.isdigit() else 0


def field_of(problem_field: str, fields: Iterable[str]) -> str | None:
    """The form field a problem belongs to: itself, or the nearest enclosing one."""
    known = set(fields)
    parts = problem_field.split(".")
    for n in range(len(parts), 0, -1):
        candidate = ".".join(parts[:n])
        if candidate in known:
            return candidate
    return None


def problems(err: Invalid | Conflict, fields: Iterable[str], aliases: Mapping[str, str] | None = None) -> dict[str, str]:
    """Messages by form field (``""`` for ones that belong to no field), first problem first."""
    fields = list(fields)
    found = err.problems if isinstance(err, Invalid) else [_conflict_problem(err)]
    out: dict[str, str] = {}
    aliases = aliases or {}
    for field, reason in found:
        head = field.split(".")[0]
        field = aliases.get(field) or aliases.get(head, field)
        where = field_of(field, fields) or ""
        message = _PLAIN.get(reason, reason)
        if message.startswith("String should match pattern"):  # the ids hubs use on MQTT
            message = "use only letters, digits, - and _ (up to 64, starting with a letter or digit)"
        message = message[:1].upper() + message[1:]
        out[where] = f"{out[where]} {message}." if where in out else f"{message}."
    return out


def _conflict_problem(err: Conflict) -> tuple[str, str]:
    """A Conflict that names its field ("nhs_number: resident 3 already has this...")."""
    field, sep, reason = str(err).partition(": ")
    return (field, reason) if sep and " " not in field else ("", str(err))


def day(value: str, field: str) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid.one(field, "enter a date (YYYY-MM-DD)") from None


def moment(on: date | None, now: datetime, zone: str = LOCAL_ZONE) -> datetime:
    """A date given on a form as a time: now for today (or no date), else the start of that
    local day (a later day stays later than now, for the services to refuse)."""
    tz = ZoneInfo(zone)
    if on is None or on == now.astimezone(tz).date():
        return now
    return datetime.combine(on, time(0), tzinfo=tz)


def clock_time(value: str, field: str) -> time | None:
    if not value:
        return None
    try:
        return time.fromisoformat(value)
    except ValueError:
        raise Invalid.one(field, "enter a time (HH:MM)") from None


def choices(vocabulary: Iterable[Any]) -> list[tuple[str, str]]:
    """A controlled list as (value, words) for a select or checkboxes: "dining_room", "Dining room"."""
    return [(m.value, m.value.replace("_", " ").capitalize()) for m in vocabulary]
