from django.urls import path

from . import views

app_name = "police"

ORG = "staff/o/<uuid:org>/police/"

urlpatterns = [
    # The police liaison's side: only cases referred to their unit.
    path(ORG, views.liaison_cases, name="cases"),
    path(ORG + "cases/<uuid:case>/", views.liaison_case, name="case"),
    path(ORG + "cases/<uuid:case>/exhibits/", views.liaison_exhibits, name="exhibits"),
    path(ORG + "cases/<uuid:case>/custody/", views.liaison_custody, name="custody"),
    path(ORG + "cases/<uuid:case>/export/", views.export_start, name="export"),
    path(ORG + "exports/<uuid:export>/progress", views.export_progress, name="export-progress"),
    path(ORG + "exports/<uuid:export>/download", views.export_download, name="export-download"),
    # Coordinators: the organisation's police units and who speaks for each.
    path(ORG + "units/", views.units, name="units"),
    path(ORG + "units/liaisons/", views.unit_assign, name="unit-assign"),
]
