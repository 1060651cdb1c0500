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
    1: "P1: alarm calls (pendant, fall, smoke, leak)",
    2: "P2: wellbeing (no movement, not up, door at night, cold home)",
    3: "P3: changes in routine, hub offline",
    4: "P4: device upkeep (batteries, silent sensors)",
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
