"""Call audits: a supervisor's short structured review of one call handled by one operator, for
the TEC quality standard (at least two audited calls per call handler a month)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from tecwatch.registry.base import Base


class CallAudit(Base):
    """One handler's part in one alert, reviewed. The handler is the username the alert trail
    records; the month an audit counts for is the month the alert was raised."""

    __tablename__ = "call_audits"
    __table_args__ = (UniqueConstraint("alert_id", "handler"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    handler: Mapped[str] = mapped_column(String(100), index=True)
    auditor: Mapped[str] = mapped_column(String(100))
    audited_at: Mapped[datetime]
    greeting_identity: Mapped[bool]  # greeted the caller and checked who they were speaking to
    correct_action: Mapped[bool]  # the right action for the call (script, responders, 999)
    trail_complete: Mapped[bool]  # every action and the outcome recorded in the alert's trail
    score: Mapped[int]  # 1 (poor) to 5 (excellent)
    note: Mapped[str] = mapped_column(Text, default="", server_default="")
