"""One view per case action (support/views.py), each checked on its own.

For every action: the allowed role succeeds and its audit event is written, a wrong
role gets 403, another organisation's member 404, a GET 405, and bad input a
translated error with nothing changed.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from support import casework, intake
from support.models import Case, CaseStatus, Referral, Role, Task
from tests.factories import FULL_REPORT, client_for, make_case, make_member
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Action:
    name: str  # the URL name, support:case-<name>
    allowed: str  # a role that may do it
    denied: str  # a role with case access that may not (or, if none, one without)
    good: Any  # (case, context) -> POST data that succeeds
    changed: Any  # (case) -> True once the good POST took effect
    event: str  # the audit event it writes
    bad: Any = None  # (case, context) -> POST data that must be refused
    kwargs: Any = field(default=lambda case, context: {})


def _state(case: Case) -> tuple:
    case.refresh_from_db()
    return (
        case.status,
        case.priority,
        case.assignee_id,
        case.incident_id,
        case.legal_hold,
        case.erasure_requested_at,
        sorted(label.value for label in case.labels.all()),
        case.messages.filter(from_family=False).count(),
        case.notes.count(),
        case.tasks.count(),
        case.tasks.exclude(done_at=None).count(),
        case.referrals.count(),
    )


ACTIONS = [
    Action(
        "status",
        Role.CASEWORKER,
        Role.POLICE_LIAISON,
        good=lambda case, c: {"status": CaseStatus.TRIAGED},
        changed=lambda case: case.status == CaseStatus.TRIAGED,
        event="case.triaged",
        bad=lambda case, c: {"status": "lost"},
    ),
    Action(
        "priority",
        Role.CASEWORKER,
        Role.ORG_ADMIN,
        good=lambda case, c: {"priority": "0"},
        changed=lambda case: case.priority == 0,
        event="case.priority_changed",
        bad=lambda case, c: {"priority": "9"},
    ),
    Action(
        "labels",
        Role.CASEWORKER,
        Role.POLICE_LIAISON,
        good=lambda case, c: {"labels": "IES Norte, pendiente"},
        changed=lambda case: case.labels.count() == 2,
        event="case.labels_changed",
        bad=lambda case, c: {"labels": ",".join(f"l{i}" for i in range(11))},
    ),
    Action(
        "take",
        Role.CASEWORKER,
        Role.ORG_ADMIN,
        good=lambda case, c: {"shown": "nobody"},  # as the case page's form posts it
        changed=lambda case: case.assignee_id is not None,
        event="case.assigned",
    ),
    Action(
        "assign",
        Role.COORDINATOR,
        Role.CASEWORKER,
        good=lambda case, c: {"assignee": str(c["colleague"].uuid)},
        changed=lambda case: case.assignee_id is not None,
        event="case.assigned",
        bad=lambda case, c: {"assignee": str(uuid.uuid4())},
    ),
    Action(
        "incident",
        Role.COORDINATOR,
        Role.CASEWORKER,
        good=lambda case, c: {"incident": str(c["incident"].uuid)},
        changed=lambda case: case.incident_id is not None,
        event="case.incident_set",
        bad=lambda case, c: {"incident": str(c["other_incident"].uuid)},
    ),
    Action(
        "hold",
        Role.COORDINATOR,
        Role.CASEWORKER,
        good=lambda case, c: {"hold": "on"},
        changed=lambda case: case.legal_hold,
        event="case.legal_hold_set",
        bad=lambda case, c: {"hold": "perhaps"},
    ),
    Action(
        "erasure",
        Role.COORDINATOR,
        Role.CASEWORKER,
        good=lambda case, c: {"approve": "no"},
        changed=lambda case: case.erasure_requested_at is None,
        event="case.erasure_refused",
        bad=lambda case, c: {"approve": "maybe"},
    ),
    Action(
        "reply",
        Role.CASEWORKER,
        Role.POLICE_LIAISON,
        good=lambda case, c: {"body": "Hemos pedido la retirada."},
        changed=lambda case: case.messages.filter(from_family=False).exists(),
        event="message.to_family",
        bad=lambda case, c: {"body": "   "},
    ),
    Action(
        "note",
        Role.CASEWORKER,
        Role.ORG_ADMIN,
        good=lambda case, c: {"body": "Llamar al colegio"},
        changed=lambda case: case.notes.exists(),
        event="note.added",
        bad=lambda case, c: {"body": ""},
    ),
    Action(
        "task",
        Role.CASEWORKER,
        Role.POLICE_LIAISON,
        good=lambda case, c: {"title": "Llamar al 017", "due": "2026-12-10"},
        changed=lambda case: case.tasks.count() == 2,
        event="task.added",
        bad=lambda case, c: {"title": "Llamar", "due": "mañana"},
    ),
    Action(
        "task-done",
        Role.CASEWORKER,
        Role.ORG_ADMIN,
        good=lambda case, c: {},
        changed=lambda case: case.tasks.exclude(done_at=None).exists(),
        event="task.done",
        kwargs=lambda case, c: {"task": c["task"].uuid},
    ),
    Action(
        "referral",
        Role.CASEWORKER,
        Role.POLICE_LIAISON,
        good=lambda case, c: {"to": "incibe_017", "on": "2026-11-20", "reference": "INC-1"},
        changed=lambda case: Referral.objects.filter(case=case).exists(),
        event="referral.logged",
        bad=lambda case, c: {"to": "nowhere", "on": "yesterday"},
    ),
]


@pytest.fixture
def setting(org_x, org_y, coordinator):
    """A new case of org_x with one open task and an erasure request, and what the
    actions need: a colleague to assign, an incident, another organisation's incident."""
    case = make_case(org_x, **FULL_REPORT)
    Case.objects.filter(pk=case.pk).update(priority=2)  # normal, so "urgent" is a change
    task = casework.add_task(actor=coordinator, case=case, title="Ver capturas", due=None)
    intake.request_erasure(case=case)
    outsider = make_member(org_y, Role.COORDINATOR)
    return case, {
        "colleague": make_member(org_x, Role.CASEWORKER),
        "incident": casework.create_incident(actor=coordinator, title="Colegio"),
        "other_incident": casework.create_incident(actor=outsider, title="Otro"),
        "task": task,
    }


def _url(action: Action, case, context) -> str:
    kwargs = {"org": case.organisation.uuid, "case": case.uuid, **action.kwargs(case, context)}
    return reverse(f"support:case-{action.name}", kwargs=kwargs)


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_the_allowed_role_succeeds_and_the_event_is_recorded(action, setting, org_x):
    case, context = setting
    member = make_member(org_x, action.allowed)
    response = client_for(member).post(
        _url(action, case, context), action.good(case, context), HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 302
    case.refresh_from_db()
    assert action.changed(case)
    assert AuditEvent.objects.filter(object_id=case.uuid, event=action.event).exists()


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_a_wrong_role_is_refused_and_nothing_changes(action, setting, org_x):
    case, context = setting
    before = _state(case)
    member = make_member(org_x, action.denied)
    response = client_for(member).post(_url(action, case, context), action.good(case, context))
    assert response.status_code == 403
    assert _state(case) == before


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_another_organisations_member_gets_404(action, setting, org_y):
    case, context = setting
    before = _state(case)
    for role in (Role.COORDINATOR, Role.CASEWORKER):
        client = client_for(make_member(org_y, role))
        response = client.post(_url(action, case, context), action.good(case, context))
        assert response.status_code == 404, role
    assert _state(case) == before


@pytest.mark.parametrize("action", [a for a in ACTIONS if a.bad], ids=lambda a: a.name)
def test_bad_input_is_refused_with_a_translated_error(action, setting, org_x):
    case, context = setting
    client = client_for(make_member(org_x, action.allowed))
    before, events = _state(case), AuditEvent.objects.count()
    errors = {}
    for language in ("es", "en"):
        url = _url(action, case, context)
        response = client.post(url, action.bad(case, context), HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 302
        page = client.get(response.url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
        errors[language] = re.findall(r'<p class="message message-error">(.+?)</p>', page)
    assert errors["es"] and errors["en"]
    assert errors["es"] != errors["en"]  # said in the member's language
    assert _state(case) == before
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("action", ACTIONS, ids=lambda a: a.name)
def test_actions_are_post_only_and_need_the_csrf_token(action, setting, org_x):
    case, context = setting
    before = _state(case)
    member = make_member(org_x, action.allowed)
    assert client_for(member).get(_url(action, case, context)).status_code == 405
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(member.user, backend="django.contrib.auth.backends.ModelBackend")
    assert strict.post(_url(action, case, context), action.good(case, context)).status_code == 403
    assert _state(case) == before


def test_an_unknown_task_is_404(setting, caseworker):
    case, _context = setting
    url = reverse(
        "support:case-task-done",
        kwargs={"org": case.organisation.uuid, "case": case.uuid, "task": uuid.uuid4()},
    )
    assert client_for(caseworker).post(url).status_code == 404
    assert not Task.objects.exclude(done_at=None).exists()


def test_an_approved_erasure_goes_back_to_the_queue(setting, coordinator):
    case, _context = setting
    url = reverse("support:case-erasure", kwargs={"org": case.organisation.uuid, "case": case.uuid})
    response = client_for(coordinator).post(url, {"approve": "yes"})
    assert response.url == reverse("support:org-home", args=[case.organisation.uuid])
    case.refresh_from_db()
    assert case.destroyed_at is not None


def test_a_form_returns_to_the_section_it_is_on(setting, caseworker):
    case, _context = setting
    kwargs = {"org": case.organisation.uuid, "case": case.uuid}
    client = client_for(caseworker)
    for action, data, section in [
        ("reply", {"body": "Hola"}, "case-messages"),
        ("note", {"body": "Nota"}, "case-notes"),
        ("referral", {"to": "incibe_017", "on": "2026-11-20"}, "case-referrals"),
        ("status", {"status": "triaged"}, "case-detail"),
    ]:
        response = client.post(reverse(f"support:case-{action}", kwargs=kwargs), data)
        assert response.url == reverse(f"support:{section}", kwargs=kwargs), action


def _take_form(client, case) -> tuple[str, dict]:
    """The "Take this case" form as the case page shows it: its action and its fields."""
    kwargs = {"org": case.organisation.uuid, "case": case.uuid}
    page = client.get(reverse("support:case-detail", kwargs=kwargs)).content.decode()
    action = reverse("support:case-take", kwargs=kwargs)
    form = re.search(rf'<form method="post" action="{re.escape(action)}".*?</form>', page, re.S)
    assert form, "the case page shows no Take form"
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form[0]))
    fields.pop("csrfmiddlewaretoken", None)
    return action, fields


def _messages(client, url, language) -> list[str]:
    page = client.get(url, HTTP_ACCEPT_LANGUAGE=language).content.decode()
    return re.findall(r'<p class="message message-\w+">(.+?)</p>', page)


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.COORDINATOR])
def test_a_member_who_loses_the_race_to_take_a_case_is_told_and_nothing_changes(
    role, setting, org_x
):
    case, _context = setting
    first, second = make_member(org_x, role), make_member(org_x, role)
    first_client, second_client = client_for(first), client_for(second)
    # Both have the case page open while nobody has the case.
    first_url, first_form = _take_form(first_client, case)
    second_url, second_form = _take_form(second_client, case)
    assert first_client.post(first_url, first_form).status_code == 302
    before = _state(case)
    events = AuditEvent.objects.filter(object_id=case.uuid, event="case.assigned").count()

    told = {}
    for language in ("es", "en"):
        response = second_client.post(second_url, second_form, HTTP_ACCEPT_LANGUAGE=language)
        assert response.status_code == 302
        # Back where the member can still look: the case for a coordinator, the queue
        # for a caseworker (a colleague's case is not theirs to see).
        if role == Role.CASEWORKER:
            assert response.url == reverse("support:org-home", args=[case.organisation.uuid])
        else:
            assert response.url == reverse(
                "support:case-detail", kwargs={"org": case.organisation.uuid, "case": case.uuid}
            )
        told[language] = _messages(second_client, response.url, language)
    assert told["en"] == ["A colleague took this case first; nothing was changed."]
    assert told["es"] == [
        "Otra persona del equipo se ha encargado de este caso antes que tú; no se ha cambiado nada."
    ]
    assert _state(case) == before
    case.refresh_from_db()
    assert case.assignee == first
    assert AuditEvent.objects.filter(object_id=case.uuid, event="case.assigned").count() == events


def test_a_caseworker_taking_a_colleagues_case_outside_the_page_is_still_403(setting, org_x):
    # Without the page's "shown as nobody's" field this is not a lost race but a
    # request for a case the caseworker may not see (the IDOR matrix's request).
    case, _context = setting
    colleague, caseworker = make_member(org_x, Role.CASEWORKER), make_member(org_x, Role.CASEWORKER)
    casework.assign_case(actor=colleague, case=case, assignee=colleague)
    before = _state(case)
    url = reverse("support:case-take", kwargs={"org": case.organisation.uuid, "case": case.uuid})
    assert client_for(caseworker).post(url).status_code == 403
    assert _state(case) == before


@pytest.mark.parametrize("role", [Role.POLICE_LIAISON, Role.ORG_ADMIN])
def test_a_role_that_may_not_take_is_refused_even_after_a_colleague_took_it(
    role, setting, org_x, org_y
):
    case, _context = setting
    colleague = make_member(org_x, Role.CASEWORKER)
    url, form = _take_form(client_for(colleague), case)  # what the page shows
    casework.assign_case(actor=colleague, case=case, assignee=colleague)
    before = _state(case)
    assert client_for(make_member(org_x, role)).post(url, form).status_code == 403
    for outsider_role in (Role.COORDINATOR, Role.CASEWORKER):
        outsider = make_member(org_y, outsider_role)
        assert client_for(outsider).post(url, form).status_code == 404
    assert _state(case) == before
