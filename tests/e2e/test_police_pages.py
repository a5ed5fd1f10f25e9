"""A police liaison signs in with a second factor; their pages pass axe (WCAG 2.2 AA)."""

import pytest
from allauth.mfa.totp.internal.auth import TOTP, hotp_value, yield_hotp_counters_from_time

from police import services
from support import members
from support.models import Role
from tests.e2e.axe import axe_problems
from tests.factories import PASSWORD, make_user
from tests.police.conftest import new_case, new_unit
from vault.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def test_the_liaison_pages_are_accessible(laptop, live_server, org_x, coordinator):
    page, base = laptop, live_server.url
    user = make_user("enlace@example.org", mfa=False)
    TOTP.activate(user, SECRET)
    liaison = members.add_member(
        organisation=org_x, user=user, role=Role.POLICE_LIAISON, actor=Actor.system("tests")
    )
    unit = new_unit(coordinator)
    services.assign_liaison(acting=coordinator, liaison=liaison, unit=unit)
    case = new_case(org_x)
    services.refer_case(acting=coordinator, case=case, unit=unit, basis="consent")
    page.goto(base + "/staff/")
    page.get_by_label("Correo electrónico").fill(user.email)
    page.get_by_label("Contraseña").fill(PASSWORD)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url("**/2fa/authenticate/")
    code = f"{hotp_value(SECRET, next(yield_hotp_counters_from_time())):06d}"
    page.locator("input[name=code]").fill(code)
    page.locator("main form button[type=submit]").first.click()
    page.wait_for_url(f"**/staff/o/{org_x.uuid}/")
    problems = {}
    root = f"{base}/staff/o/{org_x.uuid}/police/"
    for url in [
        root,
        f"{root}cases/{case.uuid}/",
        f"{root}cases/{case.uuid}/exhibits/",
        f"{root}cases/{case.uuid}/custody/",
    ]:
        page.goto(url)
        assert case.reference in page.content()
        problems[url] = axe_problems(page)
    # The export form sits behind a fresh re-authentication: that page is checked too.
    page.goto(f"{root}cases/{case.uuid}/export/")
    problems["export"] = axe_problems(page)
    assert {url: p for url, p in problems.items() if p} == {}
