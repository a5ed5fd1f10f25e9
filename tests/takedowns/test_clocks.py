"""Deadlines, reminders and escalation, on a frozen clock (`now` is passed in)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core import mail

from support import casework
from support.models import OutboxMessage, Role
from takedowns import clocks
from takedowns.models import NoticeEvent, NoticeState
from tests.factories import make_member
from tests.takedowns.casedata import make_case, make_notice
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db

SENT = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def _reminders(notice, stage):
    return notice.events.filter(kind=NoticeEvent.Kind.REMINDER, data__stage=stage).count()


def _deliver_reminders():
    """Run the outbox rows the clocks wrote, as the worker would."""
    for row in OutboxMessage.objects.filter(task="takedowns.send_deadline_reminder", done_at=None):
        clocks.send_deadline_reminder(outbox_id=str(row.uuid), **row.kwargs)


@pytest.fixture
def tid_notice(org_x, coordinator):
    case = make_case(org_x)
    casework.assign_case(actor=coordinator, case=case, assignee=coordinator)
    return make_notice(case, basis="take_it_down", sent_at=SENT)


def test_the_take_it_down_deadline_is_48_hours_from_the_registry_row(tid_notice):
    assert tid_notice.route.deadline_hours == 48
    clocks.run_clocks(now=SENT + timedelta(minutes=1))
    tid_notice.refresh_from_db()
    assert tid_notice.deadline_at == SENT + timedelta(hours=48)


def test_a_row_without_a_deadline_gets_its_basis_default(org_x):
    notice = make_notice(make_case(org_x), basis="dsa", sent_at=SENT)
    assert notice.route.deadline_hours is None
    clocks.run_clocks(now=SENT)
    notice.refresh_from_db()
    assert notice.deadline_at == SENT + timedelta(hours=clocks.DEFAULT_DEADLINE_HOURS["dsa"])


def test_an_edited_registry_deadline_is_used(org_x):
    notice = make_notice(make_case(org_x), basis="dsa", sent_at=SENT)
    notice.route.deadline_hours = 24
    notice.route.save()
    clocks.run_clocks(now=SENT)
    notice.refresh_from_db()
    assert notice.deadline_at == SENT + timedelta(hours=24)


def test_the_reminder_before_fires_12_hours_before_a_48_hour_deadline_once(tid_notice):
    clocks.run_clocks(now=SENT)
    assert clocks.run_clocks(now=SENT + timedelta(hours=35, minutes=59))["before"] == 0
    assert _reminders(tid_notice, "before") == 0
    assert clocks.run_clocks(now=SENT + timedelta(hours=36))["before"] == 1
    assert clocks.run_clocks(now=SENT + timedelta(hours=37))["before"] == 0
    assert _reminders(tid_notice, "before") == 1
    assert _reminders(tid_notice, "expired") == 0


def test_the_expiry_reminder_fires_at_the_deadline_not_a_minute_before(tid_notice):
    clocks.run_clocks(now=SENT)
    assert clocks.run_clocks(now=SENT + timedelta(hours=47, minutes=59))["expired"] == 0
    assert clocks.run_clocks(now=SENT + timedelta(hours=48, minutes=1))["expired"] == 1
    assert clocks.run_clocks(now=SENT + timedelta(hours=60))["expired"] == 0
    assert _reminders(tid_notice, "expired") == 1
    assert AuditEvent.objects.filter(
        event="notice.reminder_expired", object_id=tid_notice.uuid
    ).exists()
    tid_notice.refresh_from_db()
    assert clocks.is_overdue(tid_notice, SENT + timedelta(hours=48, minutes=1))
    assert not clocks.is_overdue(tid_notice, SENT + timedelta(hours=47, minutes=59))


def test_a_short_deadline_is_reminded_a_quarter_before(org_x):
    notice = make_notice(make_case(org_x), basis="dsa", sent_at=SENT)
    notice.route.deadline_hours = 8
    notice.route.save()
    clocks.run_clocks(now=SENT)
    assert clocks.run_clocks(now=SENT + timedelta(hours=5, minutes=59))["before"] == 0
    assert clocks.run_clocks(now=SENT + timedelta(hours=6))["before"] == 1


@pytest.mark.parametrize("state", ["removed", "rejected", "withdrawn", "escalated"])
def test_no_reminder_once_the_platform_has_answered(org_x, state):
    make_notice(make_case(org_x), basis="take_it_down", state=state, sent_at=SENT,
                         deadline_at=SENT + timedelta(hours=48))  # fmt: skip
    assert clocks.run_clocks(now=SENT + timedelta(hours=50)) == {
        "deadlines": 0, "before": 0, "expired": 0
    }  # fmt: skip


def test_the_reminder_reaches_the_assignee_and_says_nothing_of_the_case(tid_notice, coordinator):
    clocks.run_clocks(now=SENT)
    clocks.run_clocks(now=SENT + timedelta(hours=48))
    _deliver_reminders()
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [coordinator.user.email]
    text = message.subject + message.body
    case = tid_notice.case
    for secret in (case.reference, "instagram", "Instagram", "Narrativa", "abc123"):
        assert secret not in text
    # Only the link, straight to the case's Takedowns page.
    assert f"/cases/{case.uuid}/tab/takedowns/" in message.body
    _deliver_reminders()
    assert len(mail.outbox) == 1  # the outbox row is done: a redelivery sends nothing


def test_without_an_assignee_the_coordinators_are_reminded(org_x, coordinator):
    other = make_member(org_x, Role.COORDINATOR)
    make_member(org_x, Role.CASEWORKER)
    make_notice(make_case(org_x), basis="take_it_down", sent_at=SENT)
    clocks.run_clocks(now=SENT)
    clocks.run_clocks(now=SENT + timedelta(hours=36))
    _deliver_reminders()
    assert sorted(mail.outbox[0].to) == sorted([coordinator.user.email, other.user.email])


def test_a_reappeared_notice_gets_fresh_reminders(tid_notice):
    clocks.run_clocks(now=SENT)
    clocks.run_clocks(now=SENT + timedelta(hours=49))
    tid_notice.refresh_from_db()
    tid_notice.state = NoticeState.REAPPEARED
    later = SENT + timedelta(days=10)
    tid_notice.deadline_at = clocks.deadline_for(route=tid_notice.route, basis="take_it_down",
                                                 sent_at=later)  # fmt: skip
    tid_notice.save()
    assert clocks.run_clocks(now=later + timedelta(hours=48))["expired"] == 1
    assert _reminders(tid_notice, "expired") == 2


# --- the escalation ladder ---------------------------------------------------------------


def test_the_ladder_goes_hotline_then_aepd_then_the_ftc_for_take_it_down(tid_notice):
    rungs = clocks.escalation_ladder(tid_notice, jurisdictions=["ES"])
    assert [r.code for r in rungs] == ["hotline", "aepd", "ftc", "partner"]
    assert rungs[0].route.platform.slug == "incibe"
    assert rungs[1].route.platform.slug == "aepd"
    assert rungs[2].route is None and "reportfraud.ftc.gov" in rungs[2].guidance
    assert clocks.next_rung(tid_notice, jurisdictions=["ES"]).code == "hotline"


def test_a_dsa_notice_escalates_towards_the_digital_services_coordinator(org_x):
    notice = make_notice(make_case(org_x), basis="dsa", sent_at=SENT)
    codes = [r.code for r in clocks.escalation_ladder(notice)]
    assert codes == ["hotline", "aepd", "dsc", "partner"]


def test_one_click_drafts_the_escalation_from_the_same_record(tid_notice, coordinator):
    now = SENT + timedelta(hours=48, minutes=1)
    draft = clocks.draft_escalation(acting=coordinator, notice=tid_notice, rung="hotline", now=now)
    tid_notice.refresh_from_db()
    assert tid_notice.state == NoticeState.ESCALATED and tid_notice.escalated_at == now
    assert draft.state == NoticeState.DRAFT and draft.escalated_from == tid_notice
    assert draft.platform.slug == "incibe" and draft.basis == "hotline"
    assert list(draft.items.values_list("location", flat=True)) == list(
        tid_notice.items.values_list("location", flat=True)
    )
    assert AuditEvent.objects.filter(event="notice.escalated", object_id=tid_notice.uuid).exists()
    # The next rung of the chain is the AEPD now that the hotline was tried.
    assert clocks.next_rung(draft, jurisdictions=["ES"]).code == "aepd"


def test_an_escalation_without_a_route_or_from_a_closed_notice_is_refused(tid_notice, coordinator):
    now = SENT + timedelta(hours=49)
    with pytest.raises(clocks.EscalationError, match="no-route"):
        clocks.draft_escalation(acting=coordinator, notice=tid_notice, rung="ftc", now=now)
    tid_notice.state = NoticeState.REMOVED
    tid_notice.save()
    with pytest.raises(clocks.EscalationError, match="cannot-escalate"):
        clocks.draft_escalation(acting=coordinator, notice=tid_notice, rung="hotline", now=now)
    assert not tid_notice.escalations.exists()


# --- the escalation's draft text ------------------------------------------------------


def _sent_notice(case, coordinator, platform, basis):
    from takedowns import services
    from takedowns.models import Notice
    from tests.takedowns.helpers import location_on, route

    notice = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route(platform, basis),
        locations=[location_on(case, "instagram")],
    )
    services.record_submission(acting=coordinator, notice=notice, ticket="IG-1")
    Notice.objects.filter(pk=notice.pk).update(sent_at=SENT, deadline_at=SENT + timedelta(hours=48))
    notice.refresh_from_db()
    return notice


@pytest.fixture
def stalled(case, facts, coordinator):
    from takedowns.models import Basis

    return _sent_notice(case, coordinator, "instagram", Basis.TAKE_IT_DOWN)


@pytest.mark.parametrize(
    ("rung", "asks"),
    [
        ("hotline", "pass it to the authorities"),
        ("aepd", "Canal Prioritario, to order the urgent removal"),
    ],
)
def test_one_click_drafts_real_text_for_each_rung_with_a_route(stalled, coordinator, rung, asks):
    from django.utils import translation

    now = SENT + timedelta(hours=49)
    with translation.override("en"):
        draft = clocks.draft_escalation(acting=coordinator, notice=stalled, rung=rung, now=now)
    draft.refresh_from_db()
    with translation.override(draft.language):
        ask = str(clocks.ASKS[rung])
    assert ask in draft.body
    assert stalled.uuid.hex[:8].upper() in draft.body  # the first notice's reference
    assert "Instagram" in draft.body and "Instagram" in draft.subject
    assert "https://www.instagram.com/p/DEMOfalsa1/" in draft.body  # the rung's own notice
    assert draft.template is not None and draft.elements
    if draft.language == "en":
        assert asks in draft.body


def test_the_rungs_without_a_route_get_a_letter_to_copy(stalled):
    from django.utils import translation

    for rung in ("ftc", "dsc"):
        letter = clocks.escalation_text(stalled, rung, language="en")
        with translation.override("en"):
            assert str(clocks.ASKS[rung]) in letter["body"]
        assert "https://www.instagram.com/p/DEMOfalsa1/" in letter["body"]
        assert "On March 3, 2026 we asked Instagram" in letter["body"]
    assert (
        "article 53 of the Digital Services Act"
        in clocks.escalation_text(stalled, "dsc", language="en")["body"]
    )
    assert "TAKE IT DOWN Act" in clocks.escalation_text(stalled, "ftc", language="en")["body"]
    spanish = clocks.escalation_text(stalled, "ftc", language="es")["body"]
    assert "3 de marzo de 2026" in spanish


def test_an_escalation_whose_own_notice_is_incomplete_is_refused_naming_what_is_missing(
    case, coordinator
):
    from takedowns.models import Basis

    notice = _sent_notice(case, coordinator, "instagram", Basis.DSA)  # no AEPD facts yet
    with pytest.raises(clocks.EscalationError) as refused:
        clocks.draft_escalation(
            acting=coordinator, notice=notice, rung="aepd", now=SENT + timedelta(hours=80)
        )
    assert refused.value.code == "incomplete" and refused.value.missing
    notice.refresh_from_db()
    assert notice.state == NoticeState.SENT


def test_the_overdue_page_shows_the_letter_for_a_rung_without_a_route(stalled, coordinator):
    from django.urls import reverse

    from tests.factories import client_for

    page = reverse("takedowns:overdue", kwargs={"org": stalled.organisation.uuid})
    html = client_for(coordinator).get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Text to copy into the authority" in html
    assert "We report its failure to comply." in html  # the FTC rung of a TAKE IT DOWN notice
