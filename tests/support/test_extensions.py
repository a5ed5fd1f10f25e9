"""The extension point: apps above support add case panels, case URLs and figures."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from support import extensions
from support.models import Case
from tests.factories import client_for
from tests.reporting.test_wizard import submit, walk

pytestmark = pytest.mark.django_db


def _case(org):
    reference, _ = submit(walk(Client(), org=org))
    return Case.objects.get(reference=reference)


@pytest.fixture
def registry(monkeypatch):
    """A fresh registry, so a test's panels do not leak into others."""
    monkeypatch.setattr(extensions, "_registry", extensions._Registry())
    return extensions


def _panel(slug, order, *, shown=True):
    return extensions.CasePanel(
        slug=slug,
        label=slug.title(),
        template="support/includes/extension_test_panel.html",
        context=lambda *, request, membership, case: {"who": membership.role} if shown else None,
        order=order,
    )


def test_it_lists_panels_in_page_order(registry):
    registry.register_case_panel(_panel("later", 60))
    registry.register_case_panel(_panel("earlier", 20))
    registry.register_case_panel(_panel("hidden", 30, shown=False))
    assert [p.slug for p in registry.case_panels()] == ["earlier", "hidden", "later"]


def test_each_visible_panel_is_a_tab_with_its_own_page(registry, coordinator):
    registry.register_case_panel(_panel("later", 60))
    registry.register_case_panel(_panel("hidden", 30, shown=False))
    case = _case(coordinator.organisation)
    kwargs = {"org": case.organisation.uuid, "case": case.uuid}
    summary = client_for(coordinator).get(reverse("support:case-detail", kwargs=kwargs))
    later = reverse("support:case-tab", kwargs={**kwargs, "panel": "later"})
    hidden = reverse("support:case-tab", kwargs={**kwargs, "panel": "hidden"})
    nav = summary.content.decode().split('<nav class="sub-navigation"')[1].split("</nav>")[0]
    assert f'href="{later}"' in nav and f'href="{hidden}"' not in nav
    response = client_for(coordinator).get(later)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'id="panel-later"' in page and "data-test-panel" in page
    assert f'href="{later}" aria-current="page"' in page
    assert client_for(coordinator).get(hidden).status_code == 404
    unknown = reverse("support:case-tab", kwargs={**kwargs, "panel": "nothing"})
    assert client_for(coordinator).get(unknown).status_code == 404


def test_a_panel_with_a_visibility_check_lists_its_tab_without_building_its_context(
    registry, coordinator
):
    built = []

    def context(*, request, membership, case):
        built.append(case.pk)
        return {"who": membership.role}

    def panel(slug, shown):
        return extensions.CasePanel(
            slug=slug,
            label=slug.title(),
            template="support/includes/extension_test_panel.html",
            context=context,
            visible=lambda *, membership, case: shown,
        )

    registry.register_case_panel(panel("cheap", shown=True))
    registry.register_case_panel(panel("withheld", shown=False))
    case = _case(coordinator.organisation)
    kwargs = {"org": case.organisation.uuid, "case": case.uuid}
    summary = client_for(coordinator).get(reverse("support:case-detail", kwargs=kwargs))
    nav = summary.content.decode().split('<nav class="sub-navigation"')[1].split("</nav>")[0]
    cheap = reverse("support:case-tab", kwargs={**kwargs, "panel": "cheap"})
    withheld = reverse("support:case-tab", kwargs={**kwargs, "panel": "withheld"})
    assert f'href="{cheap}"' in nav and f'href="{withheld}"' not in nav
    assert built == []  # the summary page built no panel's context
    assert client_for(coordinator).get(cheap).status_code == 200
    assert built


def test_it_refuses_a_slug_twice(registry):
    registry.register_case_panel(_panel("one", 10))
    with pytest.raises(ValueError, match="twice"):
        registry.register_case_panel(_panel("one", 20))
    registry.register_case_urls(extensions.CaseUrls(prefix="x", module="m", namespace="n"))
    with pytest.raises(ValueError, match="twice"):
        registry.register_case_urls(extensions.CaseUrls(prefix="x", module="m2", namespace="n2"))


def test_it_collects_dashboard_figures(registry, coordinator):
    registry.register_dashboard_figures(
        lambda *, membership: [extensions.DashboardFigure(label="Open notices", value=3)]
    )
    registry.register_dashboard_figures(lambda *, membership: [])
    rows = registry.dashboard_figures(membership=coordinator)
    assert [(r.label, r.value) for r in rows] == [("Open notices", 3)]
    response = client_for(coordinator).get(
        reverse("support:dashboard", kwargs={"org": coordinator.organisation.uuid})
    )
    assert response.status_code == 200
    assert "Open notices" in response.content.decode()
