"""A coordinator signs in with a second factor and triages a sextortion report."""

import pytest

from support import intake, members
from support.models import Referral, Role
from tests.e2e.axe import axe_problems
from tests.e2e.staff import sign_in, with_totp
from tests.factories import make_user
from vault.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_coordinator_triages_a_sextortion_report(laptop, live_server, org_x):
    page, base = laptop, live_server.url
    user = make_user("coordinadora@example.org", mfa=False)
    with_totp(user)
    members.add_member(
        organisation=org_x, user=user, role=Role.COORDINATOR, actor=Actor.system("tests")
    )
    case, _ = intake.submit_report(
        organisation=org_x,
        incident=None,
        submission=intake.Submission(
            filer_role="parent",
            age_band="14_15",
            contact_preference="in_app",
            categories=("sextortion",),
            narrative="Piden 300 euros por Bizum.",
            payments=("612345678",),
        ),
    )
    problems = {}

    def check_page():
        problems[page.url] = axe_problems(page)

    sign_in(page, base, user, org_x, check=check_page)
    page.get_by_role("link", name=case.reference).first.click()
    check_page()
    assert "Piden 300 euros por Bizum." in page.content()
    # The summary header and the sub-navigation; every form is closed until asked for.
    header = page.locator("header.case-header")
    assert case.reference in header.inner_text() and "Pendiente" in header.inner_text()
    assert page.locator("form select:visible, form textarea:visible").count() == 0
    page.locator("summary", has_text="Cambiar estado").click()
    page.select_option("#id_status", "triaged")
    page.get_by_role("button", name="Cambiar estado").click()
    page.wait_for_load_state()
    page.locator("nav.sub-navigation a", has_text="Mensajes").click()
    page.wait_for_url("**/messages/")
    page.locator("summary", has_text="Escribir a la familia").click()
    page.locator("#id_body").first.fill("No pagues. Hemos avisado al 017.")
    page.get_by_role("button", name="Enviar a la familia").click()
    page.wait_for_url("**/messages/")
    assert "No pagues. Hemos avisado al 017." in page.content()
    check_page()
    page.locator("nav.sub-navigation a", has_text="Derivaciones").click()
    page.wait_for_url("**/referrals/")
    page.locator("summary", has_text="Registrar una derivación").click()
    page.select_option("select[name=to]", "incibe_017")
    page.fill("input[name=on]", "2026-11-22")
    page.get_by_role("button", name="Registrar derivación").click()
    page.wait_for_url("**/referrals/")
    check_page()
    # Every other section of the case page, the panels of takedowns and police included.
    sections = page.locator("nav.sub-navigation a")
    links = [sections.nth(i).get_attribute("href") for i in range(sections.count())]
    assert len(links) >= 8
    for link in links:
        page.goto(base + link)
        assert page.locator('nav.sub-navigation a[aria-current="page"]').count() == 1
        check_page()
    check_page()
    case.refresh_from_db()
    assert case.status == "triaged"
    assert Referral.objects.get(case=case).to == "incibe_017"
    page.goto(base + f"/staff/o/{org_x.uuid}/dashboard/")
    check_page()
    page.goto(base + f"/staff/o/{org_x.uuid}/incidents/")
    check_page()
    assert {url: p for url, p in problems.items() if p} == {}
