"""The daily agenda: paced action lanes over the leads' funnel, as the best outreach tools pace work.

- **contact**: the top open leads (queued first, then by rank), up to a daily and a weekly limit;
- **follow up**: contacted leads with no reply, first after ``follow_up_first_days``, then each wait
  doubles (N, 2N, 4N … days after the last touch), up to ``follow_up_max`` touches;
- **check**: replied / meeting leads with no activity for ``check_after_days``.

Tasks are spread over the working hours of the user's time zone, with a jitter that is a pure function
of the day, lane and lead (the same agenda every time it is asked for). Nothing is sent: a person acts
and records the outcome, which moves the funnel. :func:`plan_agenda` is pure; the vault is read by
:func:`gather` in ``agenda_queries``."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

LANES = ("contact", "follow_up", "check")
CONFIG_KEY = "agenda"  # the ConfigSaved key holding these settings (JSON)


class AgendaSettings(BaseModel):
    """Limits, hours and weekdays of the lanes; saved on the Config page as a ``ConfigSaved`` event."""

    model_config = ConfigDict(extra="forbid")
    timezone: str = "America/Sao_Paulo"
    weekdays: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], description="0 = Monday … 6 = Sunday")
    work_start: time = time(9, 0)
    work_end: time = time(18, 0)
    jitter_minutes: int = Field(default=15, ge=0, le=240)
    contact_daily: int = Field(default=20, ge=0, le=10_000)
    contact_weekly: int = Field(default=80, ge=0, le=50_000)
    follow_up_first_days: int = Field(default=3, ge=1, le=90)
    follow_up_max: int = Field(default=4, ge=1, le=20)
    follow_up_daily: int = Field(default=30, ge=0, le=10_000)
    check_after_days: int = Field(default=7, ge=1, le=365)
    check_daily: int = Field(default=20, ge=0, le=10_000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[int]) -> list[int]:
        if any(d < 0 or d > 6 for d in value):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        return sorted(set(value))

    @field_validator("work_start", "work_end")
    @classmethod
    def _local_hours(cls, value: time) -> time:
        if value.tzinfo is not None:
            raise ValueError("give the hour without a time zone: the agenda's own timezone applies")
        return value

    @model_validator(mode="after")
    def _hours(self) -> AgendaSettings:
        if self.work_end <= self.work_start:
            raise ValueError("work_end must be after work_start")
        return self

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class LeadForAgenda:
    """What the lanes need of one lead (read from the vault by ``agenda_queries.gather``)."""

    lead_key: str
    state: str
    state_at: datetime | None  # when it entered its state
    rank: float  # higher first: the learned next-leads list when there is one, else the ICP score
    last_activity_at: datetime | None = None
    touches_since_contact: int = 0  # calls, e-mails, WhatsApps since it was contacted
    last_touch_at: datetime | None = None
    info: dict[str, Any] = field(default_factory=dict)  # name, channels, score, bucket… (shown, not used)


@dataclass
class Done:
    """Contacts already made: today and this week (the limits count them)."""

    contacted_today: int = 0
    contacted_this_week: int = 0


def day_bounds(day: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """The UTC start and end of ``day`` in ``zone``."""
    start = datetime.combine(day, time(0), zone)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


def _jitter(day: date, lane: str, key: str, minutes: int) -> float:
    """A deterministic offset in [-minutes, +minutes]."""
    if minutes <= 0:
        return 0.0
    h = int.from_bytes(hashlib.sha256(f"{day.isoformat()}|{lane}|{key}".encode()).digest()[:8], "big")
    return (h / 2**64 * 2 - 1) * minutes


def spread(day: date, lane: str, keys: list[str], s: AgendaSettings) -> list[datetime]:
    """A time for each task of a lane, spread evenly over the working hours, jittered, within them."""
    zone = s.zone
    start, end = datetime.combine(day, s.work_start, zone), datetime.combine(day, s.work_end, zone)
    window = (end - start).total_seconds() / 60
    out = []
    for i, key in enumerate(keys):
        at = (i + 0.5) * window / max(len(keys), 1) + _jitter(day, lane, key, s.jitter_minutes)
        out.append(start + timedelta(minutes=min(max(at, 0.0), window - 1)))
    return out


def follow_up_due(lead: LeadForAgenda, s: AgendaSettings) -> datetime | None:
    """When a contacted lead with no reply is due a follow-up: N days after the contact, then each wait
    doubles after the last touch; None once ``follow_up_max`` touches were made (or nothing is known)."""
    if lead.touches_since_contact >= s.follow_up_max:
        return None
    last = max((t for t in (lead.state_at, lead.last_touch_at) if t is not None), default=None)
    if last is None:
        return None
    return last + timedelta(days=s.follow_up_first_days * 2 ** lead.touches_since_contact)


def plan_agenda(day: date, s: AgendaSettings, leads: list[LeadForAgenda], done: Done) -> dict[str, Any]:
    """Today's tasks per lane, each with the lead, why it is there and when (local time)."""
    zone = s.zone
    working = day.weekday() in s.weekdays
    _, day_end = day_bounds(day, zone)
    lanes: dict[str, list[tuple[LeadForAgenda, str]]] = {lane: [] for lane in LANES}
    if working:
        room = max(0, min(s.contact_daily - done.contacted_today, s.contact_weekly - done.contacted_this_week))
        open_leads = sorted((lead for lead in leads if lead.state in ("new", "queued")),
                            key=lambda lead: (lead.state != "queued", -lead.rank, lead.lead_key))
        lanes["contact"] = [(lead, "queued for contact" if lead.state == "queued"
                             else lead.info.get("contact_why") or f"top ICP score ({lead.rank:g})")
                            for lead in open_leads[:room]]
        due = []
        for lead in leads:
            if lead.state == "contacted" and (when := follow_up_due(lead, s)) is not None and when < day_end:
                due.append((when, lead))
        due.sort(key=lambda item: (item[0], item[1].lead_key))
        lanes["follow_up"] = [(lead, f"no reply since {(lead.last_touch_at or lead.state_at or when):%Y-%m-%d}; "
                               f"follow-up {lead.touches_since_contact + 1} of {s.follow_up_max}")
                              for when, lead in due[:s.follow_up_daily]]
        quiet_since = day_end - timedelta(days=s.check_after_days)
        stale = sorted((lead for lead in leads if lead.state in ("replied", "meeting")
                        and (lead.last_activity_at or lead.state_at or day_end) < quiet_since),
                       key=lambda lead: (lead.last_activity_at or lead.state_at or day_end, lead.lead_key))
        lanes["check"] = [(lead, f"{lead.state}, no activity since "
                                 f"{(lead.last_activity_at or lead.state_at or day_end):%Y-%m-%d}")
                          for lead in stale[:s.check_daily]]
    limits = {"contact": min(s.contact_daily, s.contact_weekly), "follow_up": s.follow_up_daily,
              "check": s.check_daily}
    out_lanes = []
    for lane in LANES:
        items = lanes[lane]
        times = spread(day, lane, [lead.lead_key for lead, _ in items], s)
        tasks = [{"lane": lane, "lead_key": lead.lead_key, "state": lead.state, "why": why,
                  "due_at": at.isoformat(timespec="minutes"), **lead.info}
                 for (lead, why), at in zip(items, times, strict=True)]
        tasks.sort(key=lambda t: (t["due_at"], t["lead_key"]))
        out_lanes.append({"lane": lane, "limit": limits[lane], "tasks": tasks})
    return {
        "date": day.isoformat(), "timezone": s.timezone, "working_day": working,
        "hours": f"{s.work_start:%H:%M}–{s.work_end:%H:%M}",
        "contacted_today": done.contacted_today, "contacted_this_week": done.contacted_this_week,
        "contact_room_today": max(0, min(s.contact_daily - done.contacted_today,
                                         s.contact_weekly - done.contacted_this_week)),
        "lanes": out_lanes,
    }
