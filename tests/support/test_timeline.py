"""The case timeline says who did what: a person and their role in words, the change
(before → after) and the reason for seeing evidence, in the reader's language."""

import pytest
from django.urls import reverse

from support import casework, intake
from support.models import Priority, Role
from tests.factories import client_for, make_case, make_member

pytestmark = pytest.mark.django_db


def timeline_html(member, case, language):
    html = (
        client_for(member)
        .get(
            reverse("support:case-timeline", args=[case.organisation.uuid, case.uuid]),
            HTTP_ACCEPT_LANGUAGE=language,
        )
        .content.decode()
    )
    return html[html.index('id="timeline"') :]


@pytest.fixture
def worked_case(org_x):
    coordinator = make_member(org_x, Role.COORDINATOR, email="lucia.coord@example.org")
    caseworker = make_member(org_x, Role.CASEWORKER, email="pablo.gestor@example.org")
    coordinator.user.first_name, coordinator.user.last_name = "Lucía", "Martín"
    coordinator.user.save()
    case = make_case(org_x)
    casework.change_status(actor=coordinator, case=case, status="triaged")
    casework.set_priority(actor=coordinator, case=case, priority=Priority.URGENT)
    casework.assign_case(actor=coordinator, case=case, assignee=caseworker)
    return coordinator, caseworker, case


@pytest.mark.parametrize(
    ("language", "words"),
    [
        (
            "en",
            ["Lucía Martín", "Coordinator", "New → Triaged", "Normal → Urgent",
             "Nobody → pablo.gestor@example.org", "The family"],
        ),
        (
            "es",
            ["Lucía Martín", "Coordinador/a", "Nuevo → Revisado", "Normal → Urgente",
             "Nadie → pablo.gestor@example.org", "La familia"],
        ),
    ],
)  # fmt: skip
def test_the_timeline_names_the_person_their_role_and_the_change(worked_case, language, words):
    coordinator, _caseworker, case = worked_case
    timeline = timeline_html(coordinator, case, language)
    for word in words:
        assert word in timeline
    for code in ("(coordinator)", "(family)", ">coordinator<", "triaged →", "user:"):
        assert code not in timeline


def test_the_timeline_gives_the_reason_a_file_was_seen(worked_case):
    coordinator, caseworker, case = worked_case
    from tests.support.test_evidence_views import file_url

    context_file = _file_for(case)
    client_for(caseworker).post(file_url("file-reveal", case, context_file), {"reason": "takedown"})
    timeline = timeline_html(coordinator, case, "es")
    assert "Para preparar una petición de borrado" in timeline
    assert "pablo.gestor@example.org" in timeline and "Gestor/a de casos" in timeline


def test_the_timeline_says_what_the_system_and_the_family_did(worked_case):
    coordinator, _caseworker, case = worked_case
    intake.request_erasure(case=case)
    timeline = timeline_html(coordinator, case, "en")
    assert "The family asked for erasure" in timeline
    assert "system:" not in timeline


def _file_for(case):
    import io

    from PIL import Image

    from support.models import ContextFile
    from vault import services as vault_services
    from vault.audit import Actor

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 120, 30)).save(buf, "PNG")
    blob = vault_services.store_stream(
        [buf.getvalue()], actor=Actor.family(case.uuid), filename="c.png", content_type="image/png"
    )
    vault_services.process_image(blob.uuid)
    return ContextFile.objects.create(case=case, blob=blob)
