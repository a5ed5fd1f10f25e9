from django.urls import path

from . import pages, views

app_name = "takedowns"

ORG = "staff/o/<uuid:org>/takedowns/"

urlpatterns: list = [
    path(ORG + "settings/", views.settings_page, name="settings"),
    # Follow-up pages (takedowns/pages.py): hash lists, metrics, transparency, re-checks,
    # overdue notices and their escalation.
    path(ORG + "hashes/", pages.hash_lists, name="hash-lists"),
    path(ORG + "metrics/", pages.metrics_page, name="metrics"),
    path(ORG + "transparency/", pages.transparency_page, name="transparency"),
    path(ORG + "rechecks/", pages.recheck_settings, name="recheck-settings"),
    path(ORG + "overdue/", pages.overdue_notices, name="overdue"),
    path(ORG + "notices/<uuid:notice>/escalate/", pages.escalate_notice, name="escalate"),
]
