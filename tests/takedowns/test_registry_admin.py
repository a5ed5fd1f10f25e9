"""Site operators edit the registry in the Django admin: every change versioned (a
snapshot row) and audited; organisation routes stay the organisation's; stale rows
are marked in the admin list and on the case panel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from takedowns.models import Platform, RegistryVersion, Route
from tests.factories import client_for, make_user
from tests.takedowns.helpers import route
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def operator():
    user = make_user()
    user.is_staff = user.is_superuser = True
    user.save(update_fields=["is_staff", "is_superuser"])
    return client_for(user)


def platform_form(platform: Platform, **changes) -> dict:
    data = {
        "slug": platform.slug,
        "name": platform.name,
        "kind": platform.kind,
        "organisation": platform.organisation_id or "",
        "domains": '["' + '", "'.join(platform.domains) + '"]' if platform.domains else "[]",
        "location_code": platform.location_code,
        "hash_programmes": str(platform.hash_programmes).replace("'", '"'),
        "languages": str(platform.languages).replace("'", '"'),
        "source_url": platform.source_url,
        "last_verified": platform.last_verified.isoformat() if platform.last_verified else "",
        "notes": platform.notes,
        "is_active": "on" if platform.is_active else "",
    }
    data.update(changes)
    return data


def test_an_operators_change_is_a_new_version_with_its_snapshot_and_an_audit_event(operator):
    platform = Platform.objects.get(slug="telegram", organisation=None)
    url = reverse("admin:takedowns_platform_change", args=[platform.pk])
    today = timezone.localdate().isoformat()
    response = operator.post(url, platform_form(platform, last_verified=today, notes="Checked."))
    assert response.status_code == 302, response.content.decode()[:2000]
    platform.refresh_from_db()
    assert platform.version == 2 and platform.notes == "Checked."
    [version] = RegistryVersion.objects.filter(row_uuid=platform.uuid)
    assert version.version == 2 and version.changed == ["last_verified", "notes"]
    assert version.snapshot["notes"] == "Checked." and version.snapshot["last_verified"] == today
    event = AuditEvent.objects.filter(event="registry.platform_changed").latest("id")
    assert event.object_id == platform.uuid
    assert event.data == {"version": 2, "fields": ["last_verified", "notes"]}
    # Saving again without a change writes no version.
    operator.post(url, platform_form(platform))
    assert RegistryVersion.objects.filter(row_uuid=platform.uuid).count() == 1


def test_an_operator_adds_an_organisations_own_route_which_only_it_sees(operator, org_x, org_y):
    from takedowns.registry import visible_routes

    hotline = Platform.objects.get(slug="incibe")
    model_route = route("incibe", "hotline")
    response = operator.post(
        reverse("admin:takedowns_route_add"),
        {
            "platform": hotline.pk,
            "organisation": org_x.pk,
            "name": "Línea local del grupo",
            "basis": "hotline",
            "channel": "email",
            "email": "linea@grupo.example",
            "form_url": "",
            "form_fields": "[]",
            "in_app_steps": "{}",
            "api_adapter": "",
            "eligible_jurisdictions": '["ES"]',
            "required_elements": "[]",
            "extra_demands": "[]",
            "languages": '["es"]',
            "deadline_hours": "",
            "rank": "10",
            "source_url": "",
            "last_verified": "",
            "notes": "",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    own = Route.objects.get(name="Línea local del grupo")
    assert own.organisation == org_x and own.version == 1
    assert RegistryVersion.objects.get(row_uuid=own.uuid).changed == ["created"]
    assert AuditEvent.objects.filter(event="registry.route_changed", object_id=own.uuid).exists()
    assert own in visible_routes(org_x)
    assert own not in visible_routes(org_y)
    assert model_route in visible_routes(org_y)


def test_registry_rows_cannot_be_deleted_only_deactivated(operator):
    platform = Platform.objects.get(slug="telegram", organisation=None)
    response = operator.post(
        reverse("admin:takedowns_platform_delete", args=[platform.pk]), {"post": "yes"}
    )
    assert response.status_code == 403
    assert Platform.objects.filter(pk=platform.pk).exists()


def test_staff_who_are_not_site_operators_cannot_edit_the_registry(coordinator):
    response = client_for(coordinator).get(reverse("admin:takedowns_route_changelist"))
    assert response.status_code == 302 and "/login/" in response.url


def test_the_admin_list_marks_a_row_not_verified_for_90_days_as_stale(operator):
    Platform.objects.filter(slug="telegram").update(
        last_verified=timezone.localdate() - timedelta(days=91)
    )
    Platform.objects.filter(slug="instagram").update(last_verified=timezone.localdate())
    html = operator.get(
        reverse("admin:takedowns_platform_changelist") + "?verified=stale",
        HTTP_ACCEPT_LANGUAGE="en",
    ).content.decode()
    assert "Telegram" in html and "STALE: not verified for 90 days" in html
    assert "Instagram</a>" not in html


def test_a_template_change_in_the_admin_writes_the_next_version(operator):
    from takedowns.models import NoticeTemplate

    current = NoticeTemplate.objects.get(basis="dsa", language="en", is_current=True)
    response = operator.post(
        reverse("admin:takedowns_noticetemplate_change", args=[current.pk]),
        {
            "basis": "dsa",
            "language": "en",
            "subject": current.subject + " (revised)",
            "body": current.body,
            "statements": __import__("json").dumps(current.statements),
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    current.refresh_from_db()
    assert not current.is_current and "(revised)" not in current.subject
    new = NoticeTemplate.objects.get(basis="dsa", language="en", is_current=True)
    assert new.version == current.version + 1 and new.subject.endswith("(revised)")
    assert AuditEvent.objects.filter(event="registry.template_changed", object_id=new.uuid)


def test_the_case_panel_marks_a_route_not_verified_for_90_days(case, facts, coordinator):
    from takedowns.models import Route as RouteModel

    RouteModel.objects.update(last_verified=timezone.localdate())
    page = reverse(
        "support:case-tab",
        kwargs={"org": case.organisation.uuid, "case": case.uuid, "panel": "takedowns"},
    )
    client = client_for(coordinator)
    assert (
        "not verified for 90 days"
        not in client.get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    )
    RouteModel.objects.filter(platform__slug="telegram").update(
        last_verified=timezone.localdate() - timedelta(days=91)
    )
    html = client.get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert html.count("not verified for 90 days") >= 1
