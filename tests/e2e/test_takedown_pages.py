"""A coordinator's takedown pages pass axe (WCAG 2.2 AA) in a real browser: the case's
Takedowns panel, the facts form, a notice's web-form pack, the overdue notices with
their escalation ladder and letters, the metrics, transparency and hash-list pages
(the re-check and settings pages are the organisation administrator's)."""

from datetime import timedelta

import pytest
from django.utils import timezone

from support import casework, members
from support.models import Role
from takedowns import services
from takedowns.models import Basis, Notice
from tests.e2e.axe import axe_problems
from tests.e2e.staff import sign_in, with_totp
from tests.factories import make_user
from tests.takedowns.helpers import ensure_registry_seed, location_on, make_case, route
from vault.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_takedown_staff_pages_are_accessible(laptop, live_server, org_x):
    ensure_registry_seed()
    page, base = laptop, live_server.url
    user = make_user("coordinadora@example.org", mfa=False)
    with_totp(user)
    coordinator = members.add_member(
        organisation=org_x, user=user, role=Role.COORDINATOR, actor=Actor.system("tests")
    )
    services.save_settings(acting=coordinator, data={"inbox_email": "casos@grupo.example"})
    case = make_case(org_x)
    casework.assign_case(actor=coordinator, case=case, assignee=coordinator)
    services.save_case_facts(
        acting=coordinator,
        case=case,
        data={"signature": "/s/ Ana Pérez", "prior_actions_answered": True},
    )
    notice = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("instagram", Basis.TAKE_IT_DOWN),
        locations=[location_on(case, "instagram")],
    )
    services.record_submission(acting=coordinator, notice=notice, ticket="IG-1")
    past = timezone.now() - timedelta(hours=50)
    Notice.objects.filter(pk=notice.pk).update(sent_at=past, deadline_at=past + timedelta(hours=48))
    sign_in(page, base, user, org_x)
    org_root = f"{base}/staff/o/{org_x.uuid}/"
    case_root = f"{org_root}cases/{case.uuid}/"
    problems = {}
    for url in [
        f"{case_root}tab/takedowns/",
        f"{case_root}takedowns/facts/",
        f"{case_root}takedowns/n/{notice.uuid}/",
        f"{org_root}takedowns/overdue/",
        f"{org_root}takedowns/metrics/",
        f"{org_root}takedowns/transparency/",
        f"{org_root}takedowns/hashes/",
    ]:
        response = page.goto(url)
        assert response.status == 200, url
        problems[url] = axe_problems(page)
    # The overdue page's letter sits in a closed <details>: open it and check again.
    page.goto(f"{org_root}takedowns/overdue/")
    page.locator("details summary").first.click()
    problems["overdue, letter open"] = axe_problems(page)
    assert {url: p for url, p in problems.items() if p} == {}
