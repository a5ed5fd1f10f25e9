"""Hash lists: only consented fingerprints, three formats, every export audited."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from support import casework, intake
from support.models import Role
from takedowns import hashlists, vics
from tests.factories import client_for, make_member
from tests.takedowns.casedata import fingerprint, make_case
from tests.test_translations import assert_all_spanish
from vault.audit import Actor
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db

ACTOR = Actor.system("tests")


def _sha(seed):
    return fingerprint(seed)["sha256"]


def _export(org, fmt="json", **scope):
    return hashlists.export_hash_list(actor=ACTOR, organisation=org, fmt=fmt, **scope)


def test_it_lists_only_fingerprints_whose_family_consents_to_sharing(org_x):
    make_case(org_x, fingerprints=["shared-1", "shared-2"])
    make_case(org_x, fingerprints=["refused"], consent={"hash_sharing": False})
    make_case(org_x, fingerprints=["never-asked"], consent={"hash_sharing": None})
    withdrawn = make_case(org_x, fingerprints=["withdrawn"])
    intake.withdraw_consent(case=withdrawn, kind="hash_sharing")
    document = json.loads(_export(org_x).data)
    assert {h["sha256"] for h in document["hashes"]} == {_sha("shared-1"), _sha("shared-2")}
    assert document["count"] == 2


def test_it_honours_the_young_persons_refusal_and_erasure_requests(org_x):
    make_case(org_x, fingerprints=["assent-no"], consent={"assent": False})
    make_case(org_x, fingerprints=["assent-yes"], consent={"assent": True})
    erased = make_case(org_x, fingerprints=["erasure"])
    intake.request_erasure(case=erased)
    document = json.loads(_export(org_x).data)
    assert [h["sha256"] for h in document["hashes"]] == [_sha("assent-yes")]


def test_it_never_lists_another_organisations_fingerprints(org_x, org_y):
    make_case(org_y, fingerprints=["other-org"])
    assert json.loads(_export(org_x).data)["hashes"] == []


def test_it_narrows_to_an_incident_or_a_case(org_x, coordinator):
    incident = casework.create_incident(actor=coordinator, title="Instituto")
    in_incident = make_case(org_x, incident=incident, fingerprints=["in-incident"])
    make_case(org_x, fingerprints=["elsewhere"])
    by_incident = json.loads(_export(org_x, incident=incident).data)
    assert [h["sha256"] for h in by_incident["hashes"]] == [_sha("in-incident")]
    by_case = json.loads(_export(org_x, case=in_incident).data)
    assert [h["sha256"] for h in by_case["hashes"]] == [_sha("in-incident")]


def test_it_refuses_a_scope_from_another_organisation(org_x, org_y):
    other = make_case(org_y)
    with pytest.raises(ValueError):
        _export(org_x, case=other)


def test_the_csv_has_the_columns_and_pdq_quality(org_x):
    case = make_case(org_x, fingerprints=["csv-1"])
    case.fingerprints.create(**fingerprint("video", pdq=False, media="video"))
    rows = list(csv.DictReader(io.StringIO(_export(org_x, "csv").data.decode())))
    assert tuple(rows[0]) == hashlists.CSV_COLUMNS
    first, video = rows
    assert first["sha256"] == _sha("csv-1") and first["pdq_quality"] == "87"
    assert first["pdq"] == fingerprint("csv-1")["pdq"]
    assert (video["media"], video["pdq"], video["pdq_quality"]) == ("video", "", "")


def test_the_vics_export_parses_and_round_trips(org_x):
    case = make_case(org_x, fingerprints=["v-1", "v-2"])
    case.fingerprints.create(**fingerprint("v-3", pdq=False))
    data = _export(org_x, "vics").data
    document = json.loads(data)
    assert document["@odata.context"].endswith("#Media")
    entries = vics.parse(data)
    expected = [hashlists._entry(f) for f in hashlists.shareable_fingerprints(organisation=org_x)]
    assert entries == expected
    assert vics.parse(vics.dumps(vics.media_set(entries))) == entries
    assert {e.md5 for e in entries} == {fingerprint(s)["md5"] for s in ("v-1", "v-2", "v-3")}
    assert entries[0].pdq_quality == 87 and entries[2].pdq == ""


def test_a_case_scoped_vics_export_is_a_cases_document(org_x):
    case = make_case(org_x, fingerprints=["c-1"])
    document = json.loads(_export(org_x, "vics", case=case).data)
    assert document["@odata.context"].endswith("#Cases")
    assert document["value"][0]["CaseID"] == str(case.uuid)
    assert vics.parse(_export(org_x, "vics", case=case).data)[0].sha256 == _sha("c-1")


def test_no_export_carries_case_content(org_x):
    case = make_case(org_x, fingerprints=["private"], urls=["https://t.me/canal_secreto/5"])
    for fmt in hashlists.FORMATS:
        text = _export(org_x, fmt).data.decode()
        assert "canal_secreto" not in text and "Narrativa" not in text
        assert case.reference not in text


def test_every_export_writes_an_audit_event(org_x, coordinator):
    make_case(org_x, fingerprints=["a-1", "a-2"])
    before = AuditEvent.objects.filter(event="hashes.exported").count()
    _export(org_x, "csv")
    event = AuditEvent.objects.filter(event="hashes.exported").latest("id")
    assert AuditEvent.objects.filter(event="hashes.exported").count() == before + 1
    assert event.data == {"format": "csv", "count": 2, "scope": "organisation"}
    assert event.organisation_id == org_x.uuid and event.actor_ref == "system:tests"


def test_the_command_exports_by_organisation_incident_and_case(org_x, coordinator, tmp_path):
    incident = casework.create_incident(actor=coordinator, title="Instituto")
    case = make_case(org_x, incident=incident, fingerprints=["cmd-1"])
    make_case(org_x, fingerprints=["cmd-2"])
    out = tmp_path / "hashes.vics.json"
    call_command("export_hashes", organisation=str(org_x.uuid), output=str(out))
    assert len(vics.parse(out.read_bytes())) == 2
    call_command(
        "export_hashes", organisation=str(org_x.uuid), incident=str(incident.uuid),
        format="csv", output=str(out),
    )  # fmt: skip
    assert _sha("cmd-1") in out.read_text() and _sha("cmd-2") not in out.read_text()
    call_command("export_hashes", organisation=str(org_x.uuid), case=case.reference,
                 format="json", output=str(out))  # fmt: skip
    assert [h["sha256"] for h in json.loads(out.read_text())["hashes"]] == [_sha("cmd-1")]
    events = AuditEvent.objects.filter(event="hashes.exported", actor_ref="system:export_hashes")
    assert [e.data["scope"] for e in events.order_by("id")] == ["organisation", "incident", "case"]


def test_the_command_refuses_unknown_or_foreign_scopes(org_x, org_y, tmp_path):
    other = make_case(org_y)
    out = str(tmp_path / "x")
    with pytest.raises(CommandError, match="No organisation"):
        call_command("export_hashes", organisation="not-a-uuid", output=out)
    with pytest.raises(CommandError, match="No case"):
        call_command("export_hashes", organisation=str(org_x.uuid), case=other.reference,
                     output=out)  # fmt: skip
    assert not AuditEvent.objects.filter(event="hashes.exported").exists()


# --- the staff download ----------------------------------------------------------------


def _url(org):
    return reverse("takedowns:hash-lists", kwargs={"org": org.uuid})


def test_a_coordinator_downloads_a_hash_list_and_it_is_audited(coordinator, org_x):
    make_case(org_x, fingerprints=["dl-1"])
    client = client_for(coordinator)
    page = client.get(_url(org_x))
    assert page.status_code == 200 and "Se puede compartir 1 huella" in page.content.decode()
    assert_all_spanish(page.content.decode())
    response = client.post(_url(org_x), {"fmt": "vics"})
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    assert [e.sha256 for e in vics.parse(response.content)] == [_sha("dl-1")]
    event = AuditEvent.objects.filter(event="hashes.exported").latest("id")
    assert event.actor_ref == f"user:{coordinator.user.pk}" and event.actor_role == "coordinator"


def test_the_download_narrows_to_a_case_by_reference(coordinator, org_x):
    case = make_case(org_x, fingerprints=["by-ref"])
    make_case(org_x, fingerprints=["not-this"])
    response = client_for(coordinator).post(
        _url(org_x), {"fmt": "csv", "case": case.reference.lower()}
    )
    assert _sha("by-ref") in response.content.decode()
    assert _sha("not-this") not in response.content.decode()


def test_the_download_refuses_another_organisations_case_reference(coordinator, org_x, org_y):
    other = make_case(org_y)
    response = client_for(coordinator).post(_url(org_x), {"fmt": "csv", "case": other.reference})
    assert response.status_code == 200
    assert "Ningún caso de tu organización tiene esta referencia." in response.content.decode()
    assert not AuditEvent.objects.filter(event="hashes.exported").exists()


def test_the_download_refuses_a_bad_format(coordinator, org_x):
    response = client_for(coordinator).post(_url(org_x), {"fmt": "xml"})
    assert response.status_code == 200 and "error-summary" in response.content.decode()
    assert not AuditEvent.objects.filter(event="hashes.exported").exists()


def test_the_download_is_404_for_another_organisation(org_x, org_y):
    outsider = make_member(org_y, Role.COORDINATOR)
    client = client_for(outsider)
    assert client.get(_url(org_x)).status_code == 404
    assert client.post(_url(org_x), {"fmt": "csv"}).status_code == 404


@pytest.mark.parametrize("role", [Role.CASEWORKER, Role.POLICE_LIAISON, Role.ORG_ADMIN])
def test_the_download_is_403_for_other_roles(org_x, role):
    client = client_for(make_member(org_x, role))
    assert client.get(_url(org_x)).status_code == 403
    assert client.post(_url(org_x), {"fmt": "csv"}).status_code == 403
    assert not AuditEvent.objects.filter(event="hashes.exported").exists()


def test_the_download_sends_anonymous_visitors_to_sign_in(org_x):
    assert Client().get(_url(org_x)).url.startswith(reverse("account_login"))
