from django.urls import include, path

from . import extensions, views

app_name = "support"

ORG = "staff/o/<uuid:org>/"

urlpatterns = [
    path("staff/", views.home, name="home"),
    path(ORG, views.org_home, name="org-home"),
    path(ORG + "members/", views.members, name="members"),
    path(ORG + "members/<uuid:member>/role/", views.member_role, name="member-role"),
    path(
        ORG + "members/<uuid:member>/deactivate/", views.member_deactivate, name="member-deactivate"
    ),
    path(
        ORG + "invitations/<uuid:invitation>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path(ORG + "cases/<uuid:case>/", views.case_detail, name="case-detail"),
    path(
        ORG + "cases/<uuid:case>/files/<uuid:file>/blurred", views.file_blurred, name="file-blurred"
    ),
    path(
        ORG + "cases/<uuid:case>/files/<uuid:file>/reveal/", views.file_reveal, name="file-reveal"
    ),
    path(
        ORG + "cases/<uuid:case>/files/<uuid:file>/preview", views.file_preview, name="file-preview"
    ),
    path(
        ORG + "cases/<uuid:case>/files/<uuid:file>/original",
        views.file_download,
        name="file-download",
    ),
    # URLs the apps above support mount under a case (support.extensions); before the
    # catch-all action route, which would otherwise swallow them.
    *(
        path(
            ORG + f"cases/<uuid:case>/{urls.prefix}/",
            include((urls.module, urls.namespace), namespace=urls.namespace),
        )
        for urls in extensions.case_url_modules()
    ),
    path(ORG + "cases/<uuid:case>/<slug:action>/", views.case_action, name="case-action"),
    path(ORG + "incidents/", views.incidents, name="incidents"),
    path(ORG + "incidents/<uuid:incident>/", views.incident_detail, name="incident-detail"),
    path(ORG + "incidents/<uuid:incident>/qr.<str:fmt>", views.incident_qr, name="incident-qr"),
    path(ORG + "dashboard/", views.dashboard, name="dashboard"),
    path(ORG + "retention/", views.retention_settings, name="retention"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation-accept"),
]
