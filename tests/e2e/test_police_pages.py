"""A police liaison signs in with a second factor; their pages pass axe (WCAG 2.2 AA)."""

import pytest

from police import services
from support import members
from support.models import Role
from tests.e2e.axe import axe_problems
from tests.e2e.staff import sign_in, with_totp
from tests.factories import make_user
from tests.police.conftest import new_case, new_unit
from vault.audit import Actor

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_liaison_pages_are_accessible(laptop, live_server, org_x, coordinator):
    page, base = laptop, live_server.url
    user = make_user("enlace@example.org", mfa=False)
    with_totp(user)
    liaison = members.add_member(
        organisation=org_x, user=user, role=Role.POLICE_LIAISON, actor=Actor.system("tests")
    )
    unit = new_unit(coordinator)
    services.assign_liaison(acting=coordinator, liaison=liaison, unit=unit)
    case = new_case(org_x)
    services.refer_case(acting=coordinator, case=case, unit=unit, basis="consent")
    sign_in(page, base, user, org_x)
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
