import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from support import casework, intake
from support.intake import EvidenceFingerprint
from support.models import Case, CaseLink, CaseStatus, Message, Note, Referral, Role
from tests.factories import FULL_REPORT, client_for, make_case, make_member
from tests.reporting.test_wizard import GOOD, submit, walk
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def case(org_x):
    return make_case(org_x, **FULL_REPORT)


def url(name, case, **extra):
    return reverse(
        f"support:{name}", kwargs={"org": case.organisation.uuid, "case": case.uuid, **extra}
    )


def test_a_coordinator_sees_the_new_report_in_the_triage_queue(coordinator, case):
    html = (
        client_for(coordinator)
        .get(reverse("support:org-home", args=[case.organisation.uuid]))
        .content.decode()
    )
    assert case.reference in html


def test_the_case_page_shows_decrypted_details_to_its_staff(coordinator, case):
    client = client_for(coordinator)
    assert "Compañeros de clase." in client.get(url("case-detail", case)).content.decode()
    evidence = client.get(url("case-evidence", case)).content.decode()
    assert "sospechoso_1" in evidence
    assert "https://t.me/canalmalo" in evidence


def test_the_case_page_is_404_for_another_organisation(outsider_admin, org_y, case):
    other_coordinator = make_member(org_y, Role.COORDINATOR)
    assert client_for(other_coordinator).get(url("case-detail", case)).status_code == 404


def test_the_case_page_is_403_for_roles_without_case_access(police_liaison, org_admin, case):
    assert client_for(police_liaison).get(url("case-detail", case)).status_code == 403
    assert client_for(org_admin).get(url("case-detail", case)).status_code == 403


def test_the_case_page_sends_anonymous_visitors_to_sign_in(case):
    assert Client().get(url("case-detail", case)).url.startswith(reverse("account_login"))


def test_a_caseworker_sees_new_cases_but_not_a_colleagues(caseworker, coordinator, case, org_x):
    client = client_for(caseworker)
    assert client.get(url("case-detail", case)).status_code == 200  # new, unassigned: triage
    colleague = make_member(org_x, Role.CASEWORKER)
    casework.assign_case(actor=coordinator, case=case, assignee=colleague)
    assert client.get(url("case-detail", case)).status_code == 403
    queue = client.get(reverse("support:org-home", args=[org_x.uuid])).content.decode()
    assert case.reference not in queue


def test_a_caseworker_takes_a_case_and_cannot_give_it_away(caseworker, case, org_x):
    client = client_for(caseworker)
    client.post(url("case-take", case))
    case.refresh_from_db()
    assert case.assignee == caseworker
    colleague = make_member(org_x, Role.CASEWORKER)
    response = client.post(url("case-assign", case), {"assignee": str(colleague.uuid)})
    assert response.status_code == 403
    case.refresh_from_db()
    assert case.assignee == caseworker


def test_status_follows_the_state_machine(coordinator, case):
    client = client_for(coordinator)
    client.post(url("case-status", case), {"status": "triaged"})
    case.refresh_from_db()
    assert case.status == CaseStatus.TRIAGED and case.first_response_at is not None
    client.post(url("case-status", case), {"status": "new"})  # not allowed
    case.refresh_from_db()
    assert case.status == CaseStatus.TRIAGED
    client.post(url("case-status", case), {"status": "closed"})
    client.post(url("case-status", case), {"status": "in_progress"})  # reopen
    case.refresh_from_db()
    assert case.status == CaseStatus.IN_PROGRESS and case.closed_at is None
    events = list(AuditEvent.objects.filter(object_id=case.uuid).values_list("event", flat=True))
    assert {"case.triaged", "case.closed", "case.reopened"} <= set(events)


def test_a_reply_reaches_the_family_and_an_email_says_nothing_of_it(coordinator, org_x):
    answers = {
        **GOOD,
        "who": {**GOOD["who"], "contact_preference": "email", "contact": "Madre@Example.org"},
    }
    reference, _ = submit(walk(Client(), answers))
    case = Case.objects.get(reference=reference)
    assert case.contact == "madre@example.org"
    client_for(coordinator).post(
        url("case-reply", case), {"body": "Hemos pedido la retirada a Instagram."}
    )
    assert Message.objects.get(case=case, from_family=False).body.startswith("Hemos pedido")
    from support.emails import notify_family
    from support.models import OutboxMessage

    row = OutboxMessage.objects.get(task="support.notify_family")
    notify_family(outbox_id=str(row.uuid), **row.kwargs)
    [email] = mail.outbox
    assert email.to == ["madre@example.org"]
    assert "Instagram" not in email.body and "retirada" not in email.body


def test_no_email_when_the_family_chose_in_app_messages(coordinator, case):
    client_for(coordinator).post(url("case-reply", case), {"body": "Hola"})
    from support.models import OutboxMessage

    assert not OutboxMessage.objects.filter(task="support.notify_family").exists()


def test_notes_are_encrypted_and_shared_ones_are_flagged(coordinator, case):
    client_for(coordinator).post(
        url("case-note", case), {"body": "Llamar al colegio", "shared": "on"}
    )
    note = Note.objects.get(case=case)
    assert note.body == "Llamar al colegio" and note.shared_with_family
    assert "colegio" not in note.body_sealed


def test_a_referral_to_017_is_logged_and_on_the_timeline(coordinator, case):
    client = client_for(coordinator)
    client.post(
        url("case-referral", case),
        {"to": "incibe_017", "on": "2026-11-20", "reference": "INC-1"},
    )
    referral = Referral.objects.get(case=case)
    assert referral.reference == "INC-1"
    html = client.get(url("case-referrals", case)).content.decode()
    assert "INCIBE 017" in html


def test_bad_action_input_changes_nothing(coordinator, case):
    client = client_for(coordinator)
    response = client.post(url("case-referral", case), {"to": "nowhere", "on": "yesterday"})
    assert response.status_code == 302
    assert not Referral.objects.exists()
    assert client.post(url("case-detail", case) + "no-such-action/").status_code == 404


def test_queue_search_by_reference_account_phone_and_url(coordinator, case, org_x):
    other_ref = make_case(org_x).reference
    client = client_for(coordinator)
    home = reverse("support:org-home", args=[org_x.uuid])
    for q in [
        case.reference,
        "@SOSPECHOSO_1",
        "+34 612 345 678",
        "https://t.me/s/canalmalo?utm_source=x",
    ]:
        html = client.get(home, {"q": q}).content.decode()
        assert case.reference in html, q
        assert other_ref not in html, q


def test_queue_filters_by_priority_and_platform(coordinator, case, org_x):
    client = client_for(coordinator)
    home = reverse("support:org-home", args=[org_x.uuid])
    assert case.reference in client.get(home, {"platform": "telegram"}).content.decode()
    assert case.reference not in client.get(home, {"platform": "tiktok"}).content.decode()
    assert case.reference not in client.get(home, {"priority": "0"}).content.decode()


def test_the_queue_query_count_does_not_grow_with_cases(coordinator, org_x):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_home() -> int:
        client = client_for(coordinator)
        home = reverse("support:org-home", args=[org_x.uuid])
        client.get(home)
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(home).status_code == 200
        return len(ctx)

    def add_cases(n):
        for _ in range(n):
            case = make_case(org_x, **FULL_REPORT)
            casework.set_labels(actor=coordinator, case=case, labels=["a", "b"])
            intake.add_family_message(case=case, body="hola")

    add_cases(3)
    few = queries_for_home()
    add_cases(12)
    after = queries_for_home()
    assert after == few <= 40


def test_the_case_page_query_count_is_bounded(coordinator, case, django_assert_max_num_queries):
    client = client_for(coordinator)
    for i in range(10):
        casework.add_note(actor=coordinator, case=case, body=f"n{i}", shared=False)
        casework.reply_to_family(actor=coordinator, case=case, body=f"m{i}")
    # Support's own page plus the takedowns and police panels (support.extensions).
    with django_assert_max_num_queries(50):
        assert client.get(url("case-detail", case)).status_code == 200


def test_incident_page_never_shows_another_familys_details_to_a_caseworker(
    coordinator, caseworker, org_x
):
    incident = casework.create_incident(actor=coordinator, title="Colegio X — septiembre")
    case = make_case(org_x, incident=incident, **FULL_REPORT)
    colleague = make_member(org_x, Role.CASEWORKER)
    casework.assign_case(actor=coordinator, case=case, assignee=colleague)
    html = (
        client_for(caseworker)
        .get(reverse("support:incident-detail", args=[org_x.uuid, incident.uuid]))
        .content.decode()
    )
    assert "Colegio X" in html and ">1<" in html  # the count of families
    for secret in [case.reference, "Compañeros", "sospechoso_1", "canalmalo", "612"]:
        assert secret not in html


def test_incident_qr_codes_download(coordinator, org_x):
    incident = casework.create_incident(actor=coordinator, title="Grupo de clase")
    client = client_for(coordinator)
    png = client.get(reverse("support:incident-qr", args=[org_x.uuid, incident.uuid, "png"]))
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    svg = client.get(reverse("support:incident-qr", args=[org_x.uuid, incident.uuid, "svg"]))
    assert b"<svg" in svg.content


def test_only_coordinators_create_incidents(caseworker, org_x):
    response = client_for(caseworker).post(
        reverse("support:incidents", args=[org_x.uuid]), {"title": "x"}
    )
    assert response.status_code == 403


def test_incident_pages_are_404_for_another_organisation(coordinator, org_x, org_y):
    incident = casework.create_incident(actor=coordinator, title="X")
    outsider = make_member(org_y, Role.COORDINATOR)
    assert (
        client_for(outsider)
        .get(reverse("support:incident-detail", args=[org_x.uuid, incident.uuid]))
        .status_code
        == 404
    )
    assert (
        client_for(outsider)
        .get(reverse("support:incident-detail", args=[org_y.uuid, incident.uuid]))
        .status_code
        == 404
    )


def test_account_links_are_shown_to_coordinators_only(coordinator, caseworker, org_x):
    from support.matching import match_case_now

    _first, second = (make_case(org_x, **FULL_REPORT) for _ in range(2))
    match_case_now(second)
    with translation.override("es"):
        label = str(CaseLink.Kind.ACCOUNT.label)
    assert label in client_for(coordinator).get(url("case-evidence", second)).content.decode()
    assert label not in client_for(caseworker).get(url("case-evidence", second)).content.decode()


def test_one_family_naming_an_account_links_nothing(org_x):
    from support.matching import match_case_now
    from support.models import CaseLink

    case = make_case(org_x, **FULL_REPORT)
    assert match_case_now(case) == 0
    assert not CaseLink.objects.exists()


def test_pdq_within_31_bits_links_and_32_does_not(org_x):

    from support.matching import match_case_now
    from support.models import CaseLink

    def with_pdq(pdq):
        fingerprint = EvidenceFingerprint(sha256=pdq, md5="c" * 32, pdq=pdq, pdq_quality=80)
        return make_case(
            org_x, **{**FULL_REPORT, "handles": (), "phones": (), "fingerprints": (fingerprint,)}
        )

    base = int("f" * 64, 16)
    near = f"{base ^ ((1 << 31) - 1):064x}"  # 31 bits differ
    far = f"{base ^ ((1 << 32) - 1):064x}"  # 32 bits differ
    a = with_pdq("f" * 64)
    b = with_pdq(near)
    c = with_pdq(far)
    match_case_now(b)
    match_case_now(c)
    pairs = {
        (lk.case_a_id, lk.case_b_id, lk.distance) for lk in CaseLink.objects.filter(kind="image")
    }
    assert (a.id, b.id, 31) in pairs
    assert not any(c.id in (x, y) for x, y, _ in pairs if {x, y} == {a.id, c.id})


def test_dashboard_is_for_coordinators_and_shows_tables(coordinator, caseworker, case, org_x):
    html = (
        client_for(coordinator)
        .get(reverse("support:dashboard", args=[org_x.uuid]))
        .content.decode()
    )
    assert "<table" in html and "by-status" in html
    assert (
        client_for(caseworker).get(reverse("support:dashboard", args=[org_x.uuid])).status_code
        == 403
    )
    assert case.reference not in html


def test_retention_expiry_destroys_content_keeps_tombstone_and_honours_hold(coordinator, org_x):
    a = make_case(org_x, **FULL_REPORT)
    b = make_case(org_x, **FULL_REPORT)
    for c in (a, b):
        casework.change_status(actor=coordinator, case=c, status="closed")
    casework.set_legal_hold(actor=coordinator, case=b, hold=True)
    later = timezone.now() + timezone.timedelta(days=org_x.retention_days + 1)
    result = casework.run_retention(now=later)
    assert result["destroyed"] == 1
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.destroyed_at is not None and a.narrative == "" and a.narrative_sealed == ""
    assert not a.locations.exists() and not a.identifiers.exists() and not a.fingerprints.exists()
    assert AuditEvent.objects.filter(event="case.destroyed", object_id=a.uuid).exists()
    assert b.destroyed_at is None and b.narrative == "Compañeros de clase."


def test_coordinators_are_warned_30_days_before_expiry(coordinator, org_x):
    a = make_case(org_x, **FULL_REPORT)
    casework.change_status(actor=coordinator, case=a, status="closed")
    soon = timezone.now() + timezone.timedelta(days=org_x.retention_days - 10)
    assert casework.run_retention(now=soon)["warned"] == 1
    assert casework.run_retention(now=soon)["warned"] == 0  # once


def test_an_approved_erasure_request_destroys_the_case(coordinator, case):
    intake.request_erasure(case=case)
    client_for(coordinator).post(url("case-erasure", case), {"approve": "yes"})
    case.refresh_from_db()
    assert case.destroyed_at is not None
    assert AuditEvent.objects.filter(event="case.erasure_approved", object_id=case.uuid).exists()


def test_erasure_waits_for_a_legal_hold(coordinator, case):
    intake.request_erasure(case=case)
    casework.set_legal_hold(actor=coordinator, case=case, hold=True)
    client_for(coordinator).post(url("case-erasure", case), {"approve": "yes"})
    case.refresh_from_db()
    assert case.destroyed_at is None


def test_retention_settings_are_for_org_admins_within_range(org_admin, coordinator, org_x):
    client = client_for(org_admin)
    page = reverse("support:retention", args=[org_x.uuid])
    client.post(page, {"retention_days": "10"})
    org_x.refresh_from_db()
    assert org_x.retention_days == 365
    client.post(page, {"retention_days": "730"})
    org_x.refresh_from_db()
    assert org_x.retention_days == 730
    assert client_for(coordinator).get(page).status_code == 403


def test_abandoned_drafts_and_their_files_are_destroyed_after_a_week(org_x):
    from support.models import ContextFile, ReportDraft
    from vault import services as vault_services
    from vault.audit import Actor

    client = walk(Client(), {k: v for k, v in GOOD.items() if k in ("who", "what")})
    draft = ReportDraft.objects.get()
    blob = vault_services.store_stream([b"captura"], actor=Actor.system("tests"))
    ContextFile.objects.create(draft=draft, blob=blob)
    assert casework.run_retention()["drafts"] == 0  # fresh: kept
    later = timezone.now() + casework.DRAFT_LIFETIME + timezone.timedelta(hours=1)
    assert casework.run_retention(now=later)["drafts"] == 1
    assert not ReportDraft.objects.exists() and not ContextFile.objects.exists()
    blob.refresh_from_db()
    assert blob.state == "destroyed"
    assert client.get(reverse("reporting:step", args=["where"])).url == reverse("reporting:report")


def test_labels_are_encrypted_shown_and_filterable(coordinator, case, org_x):
    from support.models import CaseLabel

    client = client_for(coordinator)
    client.post(
        url("case-labels", case),
        {"labels": "IES Norte, pendiente denuncia, IES Norte"},
    )
    assert sorted(label.value for label in case.labels.all()) == ["IES Norte", "pendiente denuncia"]
    assert all("IES" not in label.value_sealed for label in CaseLabel.objects.all())
    home = reverse("support:org-home", args=[org_x.uuid])
    assert case.reference in client.get(home, {"label": "ies  norte"}).content.decode()
    assert case.reference not in client.get(home, {"label": "otro"}).content.decode()
    too_many = ",".join(f"l{i}" for i in range(11))
    client.post(url("case-labels", case), {"labels": too_many})
    assert case.labels.count() == 2
