"""Names people read for the platform's codes: outcomes, priorities and other controlled values
("Resolved by phone", not ``resolved_by_phone``)."""

from __future__ import annotations

from tecwatch.registry.models import Outcome

OUTCOME_NAMES: dict[Outcome, str] = {
    Outcome.FALSE_ALARM: "False alarm",
    Outcome.RESOLVED_BY_PHONE: "Resolved by phone",
    Outcome.RESPONDER_ATTENDED: "Responder attended",
    Outcome.AMBULANCE_CALLED: "Ambulance called",
    Outcome.HOSPITAL_ADMISSION: "Hospital admission",
    Outcome.ADMISSION_AVOIDED: "Hospital admission avoided",
    Outcome.CARE_PLAN_REVIEWED: "Care plan reviewed",
    Outcome.TECHNICAL_FIXED: "Technical fault fixed",
}
PRIORITY_NAMES: dict[int, str] = {
    1: "P1 alarm calls",  # pendant, fall, smoke, leak: the 60-second target
    2: "P2 wellbeing",  # no movement, not up, door at night, cold home
    3: "P3 routine and hub",  # changes in routine, hub offline
    4: "P4 device upkeep",  # low batteries, silent sensors, hub clock
}


def words(code: str | None) -> str:
    """A code as words, capitalised: "primary_need" -> "Primary need"."""
    text = (code or "").replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def outcome_name(outcome: Outcome | str | None) -> str:
    if outcome is None:
        return "Every outcome"
    try:
        return OUTCOME_NAMES[Outcome(outcome)]
    except ValueError:
        return words(str(outcome))


def duration(seconds: float | str | None) -> str:
    """A time as people say it: "45 s", "2 min 30 s", "3 h 5 min"; a withheld figure as it is."""
    if seconds is None:
        return "none"
    if isinstance(seconds, str):
        return seconds
    s = round(seconds)
    if s < 120:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min" + (f" {s % 60} s" if s % 60 else "")
    return f"{s // 3600} h" + (f" {s % 3600 // 60} min" if s % 3600 // 60 else "")
