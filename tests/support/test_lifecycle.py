"""A case's life: how it is created (references, the draft), who may still write to
it, and what its destruction takes with it."""

from __future__ import annotations

import threading
from datetime import date

import pytest
from django.db import connection, transaction
from django.test import Client
from django.urls import reverse

from support import casework, extensions, intake
from support.events import ServiceError
from support.matching import match_case_now
from support.models import Case, ContextFile, ReportDraft
from support.permissions import get_case_for_family
from tests.factories import FULL_REPORT, make_case
from vault import crypto
from vault import services as vault_services
from vault.audit import Actor
from vault.models import Blob

pytestmark = pytest.mark.django_db


def _file(case: Case) -> ContextFile:
    blob = vault_services.store_stream([b"chat export"], actor=Actor.system("tests"))
    return ContextFile.objects.create(case=case, blob=blob)


def _case_with_every_kind_of_row(org, coordinator) -> Case:
    """A case with at least one row in each of support's relations to Case."""
    case = make_case(org, **FULL_REPORT)
    make_case(org, **FULL_REPORT)  # the same account and image: case links
    match_case_now(case)
    intake.add_family_message(case=case, body="¿Hay novedades?")
    casework.add_note(actor=coordinator, case=case, body="Llamar al colegio", shared=False)
    casework.add_task(actor=coordinator, case=case, title="Pedir retirada", due=None)
    casework.log_referral(actor=coordinator, case=case, to="017", on=date.today())
    casework.set_labels(actor=coordinator, case=case, labels=["IES Norte", "Calle Mayor 3"])
    _file(case)
    return case


def _rows(case: Case) -> dict[str, int]:
    return {
        f"{r.related_model.__name__}.{r.field.name}": r.related_model._base_manager.filter(
            **{r.field.name: case}
        ).count()
        for r in casework.case_relations()
    }


# --- Destruction (item 17) ---------------------------------------------------------------


def test_it_destroys_every_row_related_to_a_case_labels_included(org_x, coordinator):
    case = _case_with_every_kind_of_row(org_x, coordinator)
    before = _rows(case)
    support_relations = {k for k in before if k.split(".")[0] in _support_models()}
    empty = {k for k in support_relations if before[k] == 0 and not k.startswith("CaseLink.")}
    assert empty == set(), f"give the test case rows in {empty} too"
    assert before["CaseLabel.case"] == 2

    casework.destroy_case_content(case)

    assert {k: n for k, n in _rows(case).items() if n} == {}
    case.refresh_from_db()
    assert case.destroyed_at is not None
    assert case.contact_sealed == case.narrative_sealed == case.access_code_hash == ""
    assert set(Blob.objects.values_list("state", flat=True)) == {Blob.State.DESTROYED}


def _support_models() -> set[str]:
    from django.apps import apps

    return {model.__name__ for model in apps.get_app_config("support").get_models()}


def test_it_finds_relations_added_later_without_a_list_to_update():
    names = {r.related_model.__name__ for r in casework.case_relations()}
    # case links point at Case twice and hide their reverse accessors: found all the same
    assert {"CaseLabel", "CaseLink", "ContextFile", "Message", "Consent"} <= names


def test_an_app_above_support_can_say_how_its_rows_are_destroyed(org_x, coordinator):
    from support.models import Note

    case = make_case(org_x)
    casework.add_note(actor=coordinator, case=case, body="n", shared=False)
    seen = []

    def shred(*, case, rows):
        seen.append((case.pk, rows.count()))
        rows.delete()

    extensions.register_case_destroyer(Note, shred)
    try:
        with pytest.raises(ValueError, match="twice"):
            extensions.register_case_destroyer(Note, shred)
        casework.destroy_case_content(case)
    finally:
        extensions._registry.destroyers.pop(Note)
    assert seen == [(case.pk, 1)]
    assert not Note.objects.filter(case=case).exists()


# --- No writes to a destroyed case (item 18) ---------------------------------------------


@pytest.fixture
def destroyed(org_x) -> Case:
    case = make_case(org_x, **FULL_REPORT)
    casework.destroy_case_content(case)
    return case


@pytest.mark.parametrize(
    "write",
    [
        lambda case: intake.add_family_message(case=case, body="hola"),
        lambda case: intake.add_family_links(case=case, urls=["https://t.me/otro"]),
        lambda case: intake.withdraw_consent(case=case, kind="takedown"),
        lambda case: intake.request_erasure(case=case),
        lambda case: intake.add_family_files(case=case, uploads=[]),
    ],
    ids=["message", "links", "consent", "erasure", "files"],
)
def test_a_family_cannot_write_to_a_destroyed_case(destroyed, write):
    with pytest.raises(ServiceError) as refused:
        write(destroyed)
    assert refused.value.code == "case-destroyed"
    assert not destroyed.messages.exists() and not destroyed.locations.exists()


def test_staff_cannot_write_to_a_destroyed_case_either(destroyed, coordinator):
    with pytest.raises(ServiceError, match="case-destroyed"):
        casework.add_note(actor=coordinator, case=destroyed, body="n", shared=False)
    with pytest.raises(ServiceError, match="case-destroyed"):
        casework.reply_to_family(actor=coordinator, case=destroyed, body="r")
    with pytest.raises(ServiceError, match="case-destroyed"):
        casework.set_labels(actor=coordinator, case=destroyed, labels=["x"])


def test_the_familys_access_helper_does_not_return_a_destroyed_case(org_x, destroyed):
    live = make_case(org_x)
    assert get_case_for_family(live.uuid) == live
    assert get_case_for_family(destroyed.uuid) is None


def _signed_in(case: Case) -> Client:
    client = Client()
    response = client.post(
        reverse("reporting:family-signin"), {"reference": case.reference, "code": case.access_code}
    )
    assert response.url == reverse("reporting:status")
    return client


def test_a_family_signed_in_when_the_case_is_destroyed_is_told_and_signed_out(org_x):
    case = make_case(org_x)
    client = _signed_in(case)
    casework.destroy_case_content(case)
    response = client.post(reverse("reporting:status"), {"action": "message", "body": "hola"})
    assert response.url == reverse("reporting:family-signin")
    assert not case.messages.exists()
    page = client.get(response.url).content.decode()
    assert "su contenido se borró" in page  # pages are in Spanish by default
    assert client.get(reverse("reporting:status")).url == reverse("reporting:family-signin")


def test_a_write_racing_the_destruction_gets_a_message_not_an_error_page(org_x, monkeypatch):
    """The case is destroyed after the page loaded it and before the service locks it."""
    case = make_case(org_x)
    client = _signed_in(case)
    from reporting import views

    real = views.get_case_for_family

    def loaded_then_destroyed(case_uuid):
        found = real(case_uuid)
        casework.destroy_case_content(Case.objects.get(uuid=case_uuid))
        return found

    monkeypatch.setattr(views, "get_case_for_family", loaded_then_destroyed)
    response = client.post(
        reverse("reporting:status"), {"action": "links", "urls": "https://t.me/otro"}
    )
    assert response.status_code == 302
    assert response.url == reverse("reporting:family-signin")
    assert not case.locations.exists()


# --- The draft goes with the report (item 20) ---------------------------------------------


def test_submitting_a_report_deletes_its_draft_in_the_same_transaction(org_x):
    draft = ReportDraft.objects.create()
    draft_pk = draft.pk
    with transaction.atomic():
        intake.submit_report(
            organisation=org_x,
            incident=None,
            submission=intake.Submission(
                filer_role="parent", age_band="14_15", contact_preference="in_app"
            ),
            draft=draft,
        )
        assert not ReportDraft.objects.filter(pk=draft_pk).exists()


def test_a_report_that_fails_keeps_its_draft(org_x, monkeypatch):
    draft = ReportDraft.objects.create()
    draft_pk = draft.pk
    # Fails after the draft was deleted, as the last step of the report does.
    monkeypatch.setattr(intake.outbox, "enqueue", _explode)
    with pytest.raises(ZeroDivisionError):
        intake.submit_report(
            organisation=org_x,
            incident=None,
            submission=intake.Submission(
                filer_role="parent", age_band="14_15", contact_preference="in_app"
            ),
            draft=draft,
        )
    assert ReportDraft.objects.filter(pk=draft_pk).exists()
    assert not Case.objects.exists()


def _explode(*args, **kwargs):
    raise ZeroDivisionError


# --- References (item 22) -----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_reports_drawing_the_same_reference_both_get_a_case(org_x, monkeypatch):
    """Another report inserts the same reference after ours checked it was free: the
    unique constraint catches it and a new reference is drawn."""
    taken = "AMP-COLLIDE1"
    drawn = iter([taken, "AMP-FRESH234"])
    monkeypatch.setattr(crypto, "generate_case_reference", lambda: next(drawn))
    inserted, release = threading.Event(), threading.Event()

    def other_report():
        # Holds an uncommitted row with the reference, as a concurrent request would.
        try:
            with transaction.atomic():
                Case.objects.create(
                    organisation=org_x,
                    reference=taken,
                    filer_role="parent",
                    age_band="14_15",
                    contact_preference="in_app",
                )
                inserted.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=other_report)
    thread.start()
    assert inserted.wait(10)
    threading.Timer(1.0, release.set).start()  # commits while our insert waits on it
    try:
        case, _code = intake.submit_report(
            organisation=org_x,
            incident=None,
            submission=intake.Submission(
                filer_role="parent", age_band="14_15", contact_preference="in_app"
            ),
        )
    finally:
        release.set()
        thread.join(10)
    assert case.reference == "AMP-FRESH234"
    assert Case.objects.filter(reference=taken).count() == 1
