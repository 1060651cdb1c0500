"""Field types the registry's input models validate with: NHS numbers (modulus 11), UK postcodes,
phone numbers, controlled lists matched case-insensitively, device types from the catalogue, and
weekly windows of when someone can be called. Each normalises what it accepts."""

from __future__ import annotations

import enum
import re
from datetime import date, datetime, time
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from tecwatch.devices import DEVICE_TYPES
from tecwatch.registry.vocab import WEEKDAYS, Weekday, lookup

_POSTCODE = re.compile(r"^(GIR ?0AA|[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][ABD-HJLNP-UW-Z]{2})$")
_UK_NATIONAL = re.compile(r"^0[1-9][0-9]{8,9}$")
_INTERNATIONAL = re.compile(r"^\+[1-9][0-9]{7,14}$")
_PHONE_PUNCTUATION = re.compile(r"[\s\-().]")
_UPRN = re.compile(r"^[0-9]{1,12}$")
_WINDOW = re.compile(r"^(?P<days>[a-z,\-]+)\s+(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$")
LOCAL_ZONE = "Europe/London"


class Input(BaseModel):
    """Input models: unknown fields are refused (a misspelt field must not be dropped silently),
    text is stripped, and errors never repeat the value given."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, hide_input_in_errors=True)

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        # PostgreSQL cannot store a NUL character in text: refuse it here, naming the field.
        texts = value if isinstance(value, list) else [value]
        if any(isinstance(t, str) and "\x00" in t for t in texts):
            raise ValueError("may not contain a NUL character")
        return value


# A reference to a registry row: the database's integer keys are 32-bit on PostgreSQL.
RowRef = Annotated[int, Field(ge=1, le=2**31 - 1)]


def nhs_number(value: str) -> str:
    digits = re.sub(r"[\s\-]", "", value)
    if not re.fullmatch(r"[0-9]{10}", digits):
        raise ValueError("an NHS number is 10 digits")
    total = sum(int(d) * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True))
    check = 11 - total % 11
    check = 0 if check == 11 else check
    if check == 10 or check != int(digits[9]):
        raise ValueError("not a valid NHS number (its check digit is wrong)")
    return digits


def postcode(value: str) -> str:
    compact = re.sub(r"\s+", "", value.upper())
    if not _POSTCODE.match(compact):
        raise ValueError("not a UK postcode (e.g. NR3 1AB)")
    return f"{compact[:-3]} {compact[-3:]}"


def postcode_area(code: str) -> str:
    """The outward code ("NR3" of "NR3 1AB"): what reports group by."""
    return code.split(" ")[0]


def phone(value: str) -> str:
    """A UK or international number, kept in international form (+441603123456)."""
    compact = _PHONE_PUNCTUATION.sub("", value).replace("+44(0)", "+44")
    if compact.startswith("00"):
        compact = "+" + compact[2:]
    if compact.startswith("+440"):
        compact = "+44" + compact[4:]
    if _UK_NATIONAL.match(compact):
        return "+44" + compact[1:]
    if _INTERNATIONAL.match(compact) and (not compact.startswith("+44") or len(compact) in (12, 13)):
        return compact
    raise ValueError("not a phone number (e.g. 01603 123456, 07700 900123 or +44 7700 900123)")


def uprn(value: str) -> str:
    if not _UPRN.match(value):
        raise ValueError("a UPRN is up to 12 digits")
    return value


def zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not a time zone (e.g. Europe/London)") from None
    return value


def device_type(value: str) -> str:
    key = value.strip().lower()
    if key not in DEVICE_TYPES:
        raise ValueError(f"{value!r} is not a device type: {', '.join(sorted(DEVICE_TYPES))}")
    return key


def _vocab_before(vocabulary: type[enum.StrEnum]):
    def parse(value: Any) -> Any:
        return lookup(vocabulary, value) if isinstance(value, str) else value

    return BeforeValidator(parse)


def vocab(vocabulary: type[enum.StrEnum]) -> Any:
    """A field of a controlled list, matched case-insensitively."""
    return Annotated[vocabulary, _vocab_before(vocabulary)]


def vocab_list(vocabulary: type[enum.StrEnum]) -> Any:
    """A list of one controlled list's members, each once, in the list's own order."""
    def tidy(items: list[enum.StrEnum]) -> list[enum.StrEnum]:
        return [m for m in vocabulary if m in set(items)]

    return Annotated[list[Annotated[vocabulary, _vocab_before(vocabulary)]], AfterValidator(tidy)]


NhsNumber = Annotated[str, AfterValidator(nhs_number)]
Postcode = Annotated[str, AfterValidator(postcode)]
Phone = Annotated[str, AfterValidator(phone)]
Uprn = Annotated[str, AfterValidator(uprn)]
DeviceType = Annotated[str, AfterValidator(device_type)]
Zone = Annotated[str, AfterValidator(zone)]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Note = Annotated[str, Field(max_length=4000)]


def aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("give the time with its offset (e.g. 2026-11-30T10:00:00+00:00)")
    if not 1900 <= value.year <= 2999:  # far outside any service, and UTC must still be representable
        raise ValueError("is not a time between the years 1900 and 2999")
    return value


When = Annotated[datetime, AfterValidator(aware)]


class Window(Input):
    """A weekly window when someone can be called: these days, from start until end (local time;
    an end before the start runs past midnight)."""

    days: list[vocab(Weekday)] = Field(min_length=1)  # type: ignore[valid-type]
    start: time
    end: time

    @model_validator(mode="after")
    def _not_empty(self) -> Window:
        if self.start == self.end:
            raise ValueError("a window's start and end must differ")
        self.days = [d for d in WEEKDAYS if d in set(self.days)]
        return self


def parse_windows(text: str) -> list[Window]:
    """Windows written as people write them: "any" (or blank) for any time, else
    "mon-fri 09:00-17:00; sat,sun 10:00-12:00"."""
    text = text.strip().lower()
    if text in ("", "any", "any time", "anytime"):
        return []
    windows = []
    for part in (p.strip() for p in text.split(";") if p.strip()):
        m = _WINDOW.match(part)
        if not m:
            raise ValueError(f"{part!r} is not a window like 'mon-fri 09:00-17:00'")
        days: list[Weekday] = []
        for item in m["days"].split(","):
            first, _, last = item.partition("-")
            a, b = (lookup(Weekday, first), lookup(Weekday, last or first))
            i, j = WEEKDAYS.index(a), WEEKDAYS.index(b)
            days += list(WEEKDAYS[i:j + 1] if i <= j else WEEKDAYS[i:] + WEEKDAYS[:j + 1])
        windows.append(Window(days=days, start=time.fromisoformat(m["start"].zfill(5)),
                              end=time.fromisoformat(m["end"].zfill(5))))
    return windows


def available(windows: list[dict[str, Any]], at: datetime, tz: str = LOCAL_ZONE) -> bool:
    """Whether someone with these stored windows can be called at ``at`` (empty: any time)."""
    if not windows:
        return True
    local = at.astimezone(ZoneInfo(tz))
    today, yesterday = WEEKDAYS[local.weekday()].value, WEEKDAYS[local.weekday() - 1].value
    now = local.time()
    for w in windows:
        start, end = time.fromisoformat(w["start"]), time.fromisoformat(w["end"])
        if start < end and today in w["days"] and start <= now < end:
            return True
        if start > end and ((today in w["days"] and now >= start) or (yesterday in w["days"] and now < end)):
            return True
    return False


def parse_when(text: str, tz: str = LOCAL_ZONE) -> datetime:
    """A date or time from a file: ISO 8601; without an offset it is local (UK) time, a date alone
    its midnight."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("not a date or time (YYYY-MM-DD or YYYY-MM-DDTHH:MM)") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=ZoneInfo(tz))


def dob_band(born: date, today: date) -> str:
    """The five-year age band reports use ("80-84"), as of ``today``."""
    age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    low = age - age % 5
    return f"{low}-{low + 4}"


def optional_copy(model: type[BaseModel], name: str, doc: str) -> type[BaseModel]:
    """``model`` with every field optional and no defaults: a change names only what it changes
    (``model_fields_set``), and an explicit null clears a field that may be empty."""
    from pydantic import create_model

    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        inner = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        fields[field_name] = (inner | None, None)
    return create_model(name, __base__=Input, __doc__=doc, **fields)
