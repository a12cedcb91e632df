"""The agenda's lanes: limits per day and week, working hours and weekdays in the user's time zone,
deterministic jitter, follow-ups whose waits double, and stale replied/meeting leads to check."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from services.gateway.agenda import AgendaSettings, Done, LeadForAgenda, follow_up_due, plan_agenda

MONDAY = date(2026, 12, 7)
SP = ZoneInfo("America/Sao_Paulo")


def lead(n: int, state: str = "new", *, rank: float = 0, at: datetime | None = None, **kw: object) -> LeadForAgenda:
    return LeadForAgenda(lead_key=f"BR:{n:014d}", state=state, state_at=at, rank=rank, **kw)  # type: ignore[arg-type]


def lane(agenda: dict, name: str) -> list[dict]:
    return next(x for x in agenda["lanes"] if x["lane"] == name)["tasks"]


def test_the_contact_lane_takes_queued_leads_first_then_the_best_ranked_up_to_the_daily_limit() -> None:
    s = AgendaSettings(contact_daily=3, contact_weekly=100)
    leads = [lead(1, rank=90), lead(2, rank=50), lead(3, "queued", rank=10), lead(4, rank=70), lead(5, "won", rank=99)]
    tasks = lane(plan_agenda(MONDAY, s, leads, Done()), "contact")
    assert {t["lead_key"][-1] for t in tasks} == {"3", "1", "4"}
    assert next(t for t in tasks if t["lead_key"].endswith("3"))["why"] == "queued for contact"


def test_contacts_already_made_today_and_this_week_count_against_the_limits() -> None:
    s = AgendaSettings(contact_daily=5, contact_weekly=12)
    leads = [lead(i, rank=i) for i in range(1, 20)]
    assert len(lane(plan_agenda(MONDAY, s, leads, Done(contacted_today=2)), "contact")) == 3
    assert len(lane(plan_agenda(MONDAY, s, leads, Done(contacted_today=0, contacted_this_week=10)), "contact")) == 2
    agenda = plan_agenda(MONDAY, s, leads, Done(contacted_today=5, contacted_this_week=5))
    assert lane(agenda, "contact") == [] and agenda["contact_room_today"] == 0


def test_tasks_are_spread_over_the_working_hours_of_the_users_time_zone_with_a_stable_jitter() -> None:
    s = AgendaSettings(contact_daily=8, work_start=time(9), work_end=time(17), jitter_minutes=20)
    leads = [lead(i, rank=i) for i in range(1, 9)]
    first = plan_agenda(MONDAY, s, leads, Done())
    times = [datetime.fromisoformat(t["due_at"]) for t in lane(first, "contact")]
    assert all(t.utcoffset() == timedelta(hours=-3) for t in times)  # São Paulo local time
    assert all(time(9) <= t.time() < time(17) for t in times)
    assert times == sorted(times) and (times[-1] - times[0]) > timedelta(hours=5)  # spread, not bunched
    offsets = {t.minute % 60 for t in times}
    assert len(offsets) > 1  # jittered, not on a grid
    assert plan_agenda(MONDAY, s, leads, Done()) == first  # the same agenda every time it is asked for
    other = plan_agenda(MONDAY + timedelta(days=1), s, leads, Done())
    assert [t["due_at"][11:] for t in lane(other, "contact")] != [t["due_at"][11:] for t in lane(first, "contact")]


def test_no_tasks_on_a_day_off() -> None:
    s = AgendaSettings(weekdays=[0, 1, 2, 3, 4])
    saturday = MONDAY + timedelta(days=5)
    agenda = plan_agenda(saturday, s, [lead(1, rank=1)], Done())
    assert not agenda["working_day"] and all(not x["tasks"] for x in agenda["lanes"])


def test_follow_ups_wait_n_days_then_each_wait_doubles_until_the_maximum() -> None:
    s = AgendaSettings(follow_up_first_days=3, follow_up_max=3)
    contacted = datetime(2026, 12, 1, 15, tzinfo=UTC)
    assert follow_up_due(lead(1, "contacted", at=contacted), s) == contacted + timedelta(days=3)
    touched = contacted + timedelta(days=3)
    once = lead(1, "contacted", at=contacted, touches_since_contact=1, last_touch_at=touched)
    assert follow_up_due(once, s) == touched + timedelta(days=6)
    assert follow_up_due(lead(1, "contacted", at=contacted, touches_since_contact=3, last_touch_at=touched), s) is None
    # on Monday 7 December: the first is due (contacted the 1st + 3 days), the touched one not before the 10th
    agenda = plan_agenda(MONDAY, s, [lead(1, "contacted", at=contacted), lead(2, "contacted", at=contacted,
                                     touches_since_contact=1, last_touch_at=touched)], Done())
    tasks = lane(agenda, "follow_up")
    assert [t["lead_key"][-1] for t in tasks] == ["1"] and "follow-up 1 of 3" in tasks[0]["why"]


def test_replied_and_meeting_leads_without_activity_for_a_while_are_to_check() -> None:
    s = AgendaSettings(check_after_days=7)
    old, recent = datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 12, 5, tzinfo=UTC)
    leads = [lead(1, "replied", at=old), lead(2, "meeting", at=old, last_activity_at=recent),
             lead(3, "meeting", at=old, last_activity_at=old), lead(4, "won", at=old)]
    assert [t["lead_key"][-1] for t in lane(plan_agenda(MONDAY, s, leads, Done()), "check")] == ["1", "3"]


def test_settings_refuse_an_unknown_zone_bad_weekdays_and_inverted_hours() -> None:
    with pytest.raises(ValidationError, match="unknown time zone"):
        AgendaSettings(timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="weekdays"):
        AgendaSettings(weekdays=[7])
    with pytest.raises(ValidationError, match="work_end"):
        AgendaSettings(work_start=time(18), work_end=time(9))
    with pytest.raises(ValidationError, match="without a time zone"):  # (schemathesis found it a 500)
        AgendaSettings.model_validate({"work_end": "00:00:00Z"})


def test_the_contact_lane_follows_the_learned_next_leads_when_there_are_some() -> None:
    learned = LeadForAgenda(lead_key="BR:1", state="new", state_at=None, rank=1e6 - 1,
                            info={"contact_why": "next lead #1: propensity 0.58"})
    icp = lead(2, rank=99)
    tasks = lane(plan_agenda(MONDAY, AgendaSettings(contact_daily=1), [icp, learned], Done()), "contact")
    assert [t["lead_key"] for t in tasks] == ["BR:1"] and tasks[0]["why"] == "next lead #1: propensity 0.58"
