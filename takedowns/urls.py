from django.urls import path

from . import pages

app_name = "takedowns"

ORG = "staff/o/<uuid:org>/takedowns/"

urlpatterns: list = [
    # Follow-up pages (takedowns/pages.py): hash lists, metrics, transparency, re-checks.
    path(ORG + "hashes/", pages.hash_lists, name="hash-lists"),
]
