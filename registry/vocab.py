"""Controlled lists: every closed set of values the registry stores, in one place.

Values are stored as their lower-case strings. Input is matched case-insensitively, with spaces
and hyphens taken as underscores ("Dining room" is ``dining_room``), by ``lookup``.
"""

from __future__ import annotations

import enum
from datetime import time
from types import MappingProxyType


class PrimaryNeed(enum.StrEnum):
    DEMENTIA = "dementia"
    FRAILTY = "frailty"
    LEARNING_DISABILITY = "learning_disability"
    PHYSICAL_DISABILITY = "physical_disability"
    MENTAL_HEALTH = "mental_health"
    SENSORY_IMPAIRMENT = "sensory_impairment"
    OTHER = "other"


class ResponderKind(enum.StrEnum):
    OPERATOR = "operator"  # monitoring-centre operator
    FAMILY = "family"
    MOBILE = "mobile"  # mobile responder who visits
    NEIGHBOUR = "neighbour"  # a neighbour or friend who can call round


class AlertState(enum.StrEnum):
    RAISED = "raised"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"
    CANCELLED = "cancelled"


OPEN_STATES = (AlertState.RAISED, AlertState.ACKNOWLEDGED)


class Outcome(enum.StrEnum):
    FALSE_ALARM = "false_alarm"
    RESOLVED_BY_PHONE = "resolved_by_phone"
    RESPONDER_ATTENDED = "responder_attended"
    AMBULANCE_CALLED = "ambulance_called"
    HOSPITAL_ADMISSION = "hospital_admission"
    ADMISSION_AVOIDED = "admission_avoided"
    CARE_PLAN_REVIEWED = "care_plan_reviewed"
    TECHNICAL_FIXED = "technical_fixed"  # a device or hub fault put right


class LeftReason(enum.StrEnum):
    """Why someone stopped living at home with the service: what "still at home" counts against."""

    RESIDENTIAL_CARE = "residential_care"
    HOSPITAL = "hospital"  # a long stay, not an admission they came home from
    DIED = "died"
    MOVED_AWAY = "moved_away"
    SERVICE_ENDED = "service_ended"  # declined or no longer needed, still living at home


class UserRole(enum.StrEnum):
    OPERATOR = "operator"  # monitoring centre: every alert and home
    RESPONDER = "responder"  # mobile responder: alerts and homes, no reports
    FAMILY = "family"  # only the residents who consented, through their responder record
    COMMISSIONER = "commissioner"  # aggregates only: never names, addresses or dates of birth
    ADMIN = "admin"
    COORDINATOR = "coordinator"  # the TEC team: enrols residents, homes, devices and contacts


# Staff who may be shown a home's key-safe code and access notes (each view is access-logged).
ACCESS_INFO_ROLES = frozenset({UserRole.OPERATOR, UserRole.RESPONDER, UserRole.COORDINATOR, UserRole.ADMIN})


class ResidentStatus(enum.StrEnum):
    """Where a resident is in the TEC workflow, in order."""

    REFERRAL = "referral"
    ASSESSMENT = "assessment"
    INSTALLATION = "installation"
    MONITORING = "monitoring"
    REMOVED = "removed"  # only through removal, which records why


WORKFLOW = (ResidentStatus.REFERRAL, ResidentStatus.ASSESSMENT, ResidentStatus.INSTALLATION, ResidentStatus.MONITORING)


class RemovalReason(enum.StrEnum):
    """Why a resident's service was removed, as the coordinator records it."""

    DIED = "died"
    RESIDENTIAL_CARE = "residential_care"
    MOVED_AWAY = "moved_away"
    NO_LONGER_NEEDED = "no_longer_needed"
    DECLINED = "declined"


# What each removal means for the still-at-home report: someone who no longer needs or wants the
# service still lives at home.
LEFT_REASON = MappingProxyType({
    RemovalReason.DIED: LeftReason.DIED,
    RemovalReason.RESIDENTIAL_CARE: LeftReason.RESIDENTIAL_CARE,
    RemovalReason.MOVED_AWAY: LeftReason.MOVED_AWAY,
    RemovalReason.NO_LONGER_NEEDED: LeftReason.SERVICE_ENDED,
    RemovalReason.DECLINED: LeftReason.SERVICE_ENDED,
})


class Room(enum.StrEnum):
    HALL = "hall"
    KITCHEN = "kitchen"
    LOUNGE = "lounge"
    DINING_ROOM = "dining_room"
    BATHROOM = "bathroom"
    TOILET = "toilet"
    BEDROOM = "bedroom"
    SECOND_BEDROOM = "second_bedroom"
    LANDING = "landing"
    STAIRS = "stairs"
    UTILITY = "utility"
    CONSERVATORY = "conservatory"
    PORCH = "porch"
    GARAGE = "garage"
    GARDEN = "garden"


class ContactRole(enum.StrEnum):
    """What a contact sensor is fitted to. Only an entrance door is "the front door" to the rules."""

    ENTRANCE_DOOR = "entrance_door"
    BACK_DOOR = "back_door"
    INTERNAL_DOOR = "internal_door"
    FRIDGE = "fridge"
    CUPBOARD = "cupboard"
    MEDICINE_CABINET = "medicine_cabinet"


FRONT_DOOR_ROLES = frozenset({ContactRole.ENTRANCE_DOOR})
CONTACT_SENSOR_TYPES = frozenset({"door"})  # device types that need a ContactRole
ROOMLESS_TYPES = frozenset({"pendant", "fall_detector", "gateway"})  # worn, or the hub: a room is optional


class DeviceRemovalReason(enum.StrEnum):
    FAULTY = "faulty"
    REPLACED = "replaced"
    NO_LONGER_NEEDED = "no_longer_needed"
    RESIDENT_LEFT = "resident_left"
    DECLINED = "declined"
    LOST = "lost"


class TestResult(enum.StrEnum):
    __test__ = False  # a domain term, not a test case
    PASSED = "passed"
    FAILED = "failed"


class Risk(enum.StrEnum):
    LIVES_ALONE = "lives_alone"
    PETS = "pets"
    OXYGEN = "oxygen"
    SMOKER = "smoker"
    FALLS_HISTORY = "falls_history"
    WANDERING = "wandering"
    UNSAFE_COOKING = "unsafe_cooking"
    HOARDING = "hoarding"


class CommunicationNeed(enum.StrEnum):
    HARD_OF_HEARING = "hard_of_hearing"
    USES_BSL = "uses_bsl"
    SIGHT_LOSS = "sight_loss"
    SPEECH_DIFFICULTY = "speech_difficulty"
    MEMORY_LOSS = "memory_loss"
    NEEDS_INTERPRETER = "needs_interpreter"
    EASY_READ = "easy_read"


class Mobility(enum.StrEnum):
    INDEPENDENT = "independent"
    WALKING_AID = "walking_aid"
    WHEELCHAIR = "wheelchair"
    HOIST = "hoist"
    BEDBOUND = "bedbound"


class ReferralSource(enum.StrEnum):
    HOSPITAL_DISCHARGE = "hospital_discharge"
    SOCIAL_WORKER = "social_worker"
    GP = "gp"
    SELF = "self"
    FAMILY = "family"
    HOUSING = "housing"
    OTHER = "other"


class ConsentScope(enum.StrEnum):
    """What a resident agreed a family member may see."""

    STATUS = "status"  # how they are today, in words
    ALERTS = "alerts"
    ACTIVITY = "activity"  # the hour-by-hour chart
    DEVICES = "devices"  # device problems (batteries, hub offline)


class Weekday(enum.StrEnum):
    MON = "mon"
    TUE = "tue"
    WED = "wed"
    THU = "thu"
    FRI = "fri"
    SAT = "sat"
    SUN = "sun"


WEEKDAYS = tuple(Weekday)
MIDNIGHT = time(0)


def lookup(vocabulary: type[enum.StrEnum], text: str) -> enum.StrEnum:
    """The member ``text`` names, case-insensitively; ValueError listing the choices if none."""
    key = text.strip().lower().replace(" ", "_").replace("-", "_")
    try:
        return vocabulary(key)
    except ValueError:
        raise ValueError(f"{text!r} is not one of: {', '.join(m.value for m in vocabulary)}") from None


class NotificationStatus(enum.StrEnum):
    PENDING = "pending"  # due at next_attempt_at
    SENDING = "sending"  # claimed by one dispatcher
    SENT = "sent"
    FAILED = "failed"  # gave up after the last attempt; visible on the alert
    CANCELLED = "cancelled"  # the alert was acknowledged or closed before it went
