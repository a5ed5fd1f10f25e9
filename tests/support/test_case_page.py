"""The staff case page: a summary header, sub-navigation, one page per section, forms
opened on demand, one date format, a bounded number of queries per page."""

from __future__ import annotations

import datetime
import itertools
import re
from html.parser import HTMLParser

import pytest
from django.template import Context, Template
from django.urls import reverse
from django.utils import timezone, translation

from support import casework, intake
from support.models import Role
from tests.factories import FULL_REPORT, client_for, make_case, make_member

pytestmark = pytest.mark.django_db

SECTIONS = ["case-detail", "case-evidence", "case-messages", "case-notes", "case-referrals",
            "case-timeline"]  # fmt: skip
PAGES = [*SECTIONS, "tab-takedowns", "tab-police"]
VOID = {"input", "br", "img", "meta", "link", "hr", "source", "col", "wbr"}


class Page(HTMLParser):
    """What these tests look at in a page: its forms, <details>, headings and nav."""

    def __init__(self, html: str):
        super().__init__()
        self.stack: list[tuple[str, dict]] = []
        self.forms: list[dict] = []  # {"in_details": bool, "fields": int}
        self.open_details = 0
        self.headings: list[int] = []
        self.current_links: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        in_main = any(t == "main" for t, _a in self.stack)
        if tag == "form" and in_main:
            inside = any(t == "details" for t, _a in self.stack)
            self.forms.append({"in_details": inside, "fields": 0})
        is_field = tag in {"select", "textarea"} or (
            tag == "input" and attrs.get("type") not in {"hidden", "submit"}
        )
        if is_field and self.forms and any(t == "form" for t, _a in self.stack):
            self.forms[-1]["fields"] += 1
        if tag == "details" and "open" in attrs:
            self.open_details += 1
        if re.fullmatch(r"h[1-6]", tag) and in_main:
            self.headings.append(int(tag[1]))
        if tag == "a" and attrs.get("aria-current") == "page":
            self.current_links.append(attrs.get("href", ""))
        if tag not in VOID:
            self.stack.append((tag, attrs))

    def handle_endtag(self, tag):
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break


@pytest.fixture
def case(org_x, coordinator):
    case = make_case(org_x, **FULL_REPORT)
    intake.add_family_message(case=case, body="¿Hay novedades?")
    return case


def url(name, case, **extra):
    return reverse(
        f"support:{name}", kwargs={"org": case.organisation.uuid, "case": case.uuid, **extra}
    )


def page_url(section, case):
    """A section's URL; "tab-<slug>" is a registered panel's page."""
    if section.startswith("tab-"):
        return url("case-tab", case, panel=section.removeprefix("tab-"))
    return url(section, case)


def test_the_case_page_does_not_render_every_form_open(coordinator, case):
    """Each form with fields sits behind a <details> summary button, none opened."""
    html = client_for(coordinator).get(url("case-detail", case)).content.decode()
    page = Page(html)
    with_fields = [form for form in page.forms if form["fields"]]
    assert len(with_fields) >= 5  # status, priority, labels, assignment, incident
    assert all(form["in_details"] for form in with_fields)
    assert page.open_details == 0


def test_each_section_is_its_own_page(coordinator, case):
    """The reply, note, task and referral forms are on their sections, not the summary."""
    client = client_for(coordinator)
    summary = client.get(url("case-detail", case)).content.decode()
    for action, section in [("reply", "case-messages"), ("note", "case-notes"),
                            ("task", "case-notes"), ("referral", "case-referrals")]:  # fmt: skip
        action_url = url(f"case-{action}", case)
        assert f'action="{action_url}"' not in summary, action
        section_page = client.get(url(section, case)).content.decode()
        assert f'action="{action_url}"' in section_page, action
        assert all(form["in_details"] for form in Page(section_page).forms if form["fields"])


@pytest.mark.parametrize("section", SECTIONS)
def test_every_section_has_the_header_and_the_sub_navigation(section, coordinator, case):
    casework.add_task(
        actor=coordinator, case=case, title="Llamar al colegio", due=datetime.date(2026, 12, 3)
    )
    response = client_for(coordinator).get(url(section, case), HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    html = response.content.decode()
    header = html.split('<header class="case-header"')[1].split("</header>")[0]
    assert case.reference in header
    for words in ("Status", "New", "Priority", "Assigned to", "Nobody yet", "What is due",
                  "Triage this report", "Llamar al colegio", "3 December 2026"):  # fmt: skip
        assert words in header, words
    nav = html.split('<nav class="sub-navigation" aria-label="Case sections">')[1]
    nav = nav.split("</nav>")[0]
    for name in SECTIONS:
        assert f'href="{url(name, case)}"' in nav
    # The takedowns and police panels (support.extensions) are entries of their own.
    for panel in ("takedowns", "police"):
        assert f'href="{url("case-tab", case, panel=panel)}"' in nav
    assert Page(html).current_links == [url(section, case)]


@pytest.mark.parametrize("section", PAGES)
def test_every_section_page_is_guarded(section, case, org_x, org_y, police_liaison, org_admin):
    page = page_url(section, case)
    assert client_for(make_member(org_y, Role.COORDINATOR)).get(page).status_code == 404
    assert client_for(police_liaison).get(page).status_code == 403
    assert client_for(org_admin).get(page).status_code == 403
    colleague = make_member(org_x, Role.CASEWORKER)
    assert client_for(colleague).get(page).status_code == 200  # a new case: triage
    casework.assign_case(actor=make_member(org_x, Role.COORDINATOR), case=case, assignee=colleague)
    assert client_for(make_member(org_x, Role.CASEWORKER)).get(page).status_code == 403


@pytest.mark.parametrize("section", PAGES)
def test_each_section_page_has_a_bounded_query_count(
    section, coordinator, case, django_assert_max_num_queries
):
    for i in range(10):
        casework.add_note(actor=coordinator, case=case, body=f"n{i}", shared=False)
        casework.reply_to_family(actor=coordinator, case=case, body=f"m{i}")
        casework.add_task(actor=coordinator, case=case, title=f"t{i}", due=None)
        today = datetime.date.today()
        casework.log_referral(actor=coordinator, case=case, to="incibe_017", on=today)
    client = client_for(coordinator)
    with django_assert_max_num_queries(40):
        assert client.get(page_url(section, case)).status_code == 200


@pytest.mark.parametrize("section", PAGES)
def test_headings_go_in_order(section, coordinator, case):
    headings = Page(client_for(coordinator).get(page_url(section, case)).content.decode())
    levels = headings.headings
    assert levels[0] == 1 and levels.count(1) == 1
    assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), levels


def test_the_messages_page_marks_the_familys_messages_read(coordinator, case):
    client = client_for(coordinator)
    client.get(url("case-detail", case))
    assert case.messages.filter(from_family=True, read_at=None).exists()
    summary = client.get(url("case-detail", case), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "1 new message from the family" in summary
    client.get(url("case-messages", case))
    assert not case.messages.filter(from_family=True, read_at=None).exists()


def test_a_caseworker_sees_no_coordinator_forms(caseworker, case):
    html = client_for(caseworker).get(url("case-detail", case)).content.decode()
    for action in ("assign", "incident", "hold"):
        assert url(f"case-{action}", case) not in html
    assert url("case-take", case) in html and url("case-status", case) in html


# --- One date format across the staff side ----------------------------------------------


def _when(value, language):
    with translation.override(language):
        return Template("{% load staffdates %}{{ value|when }}").render(Context({"value": value}))


def test_the_when_filter_writes_dates_in_words_in_each_language():
    moment = timezone.make_aware(datetime.datetime(2026, 12, 3, 14, 5))
    assert _when(moment, "en") == "3 December 2026, 14:05"
    assert _when(moment, "es") == "3 de diciembre de 2026, 14:05"
    assert _when(datetime.date(2026, 5, 1), "es") == "1 de mayo de 2026"
    assert _when(None, "es") == ""


def test_staff_dates_are_shown_in_the_site_time_zone(settings):
    utc = datetime.datetime(2026, 7, 1, 12, 0, tzinfo=datetime.UTC)
    assert _when(utc, "en") == "1 July 2026, 14:00"  # Madrid in summer: UTC+2


def test_staff_templates_use_the_one_date_format():
    """No staff template formats a date for people any other way (`|date:'c'` is the
    machine-readable datetime attribute; chain-of-custody tables keep UTC seconds)."""
    from pathlib import Path

    from django.conf import settings

    root = Path(settings.BASE_DIR) / "templates"
    custody = {"police/liaison_custody.html", "police/liaison_exhibits.html"}
    offenders = []
    for folder in ("support", "takedowns", "police"):
        for path in (root / folder).rglob("*.html"):
            name = str(path.relative_to(root))
            if name in custody:
                continue
            for match in re.findall(r"\|date:[\"']([^\"']*)[\"']", path.read_text()):
                if match != "c":
                    offenders.append((name, match))
    assert offenders == []
