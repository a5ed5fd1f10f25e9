from django.urls import include, path

from . import extensions, views

app_name = "support"

ORG = "staff/o/<uuid:org>/"
CASE = ORG + "cases/<uuid:case>/"

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
    # The case page's sections (server-rendered pages, no script needed).
    path(CASE + "evidence/", views.case_evidence, name="case-evidence"),
    path(CASE + "messages/", views.case_messages, name="case-messages"),
    path(CASE + "notes/", views.case_notes, name="case-notes"),
    path(CASE + "referrals/", views.case_referrals, name="case-referrals"),
    path(CASE + "timeline/", views.case_timeline, name="case-timeline"),
    path(CASE + "tab/<slug:panel>/", views.case_tab, name="case-tab"),
    # One POST-only view per case action (support.permissions.ACTIONS says who may).
    path(CASE + "status/", views.case_status, name="case-status"),
    path(CASE + "priority/", views.case_priority, name="case-priority"),
    path(CASE + "labels/", views.case_labels, name="case-labels"),
    path(CASE + "take/", views.case_take, name="case-take"),
    path(CASE + "assign/", views.case_assign, name="case-assign"),
    path(CASE + "incident/", views.case_incident, name="case-incident"),
    path(CASE + "hold/", views.case_hold, name="case-hold"),
    path(CASE + "erasure/", views.case_erasure, name="case-erasure"),
    path(CASE + "reply/", views.case_reply, name="case-reply"),
    path(CASE + "note/", views.case_note, name="case-note"),
    path(CASE + "task/", views.case_task, name="case-task"),
    path(CASE + "tasks/<uuid:task>/done/", views.case_task_done, name="case-task-done"),
    path(CASE + "referral/", views.case_referral, name="case-referral"),
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
    # URLs the apps above support mount under a case (support.extensions); their
    # prefixes must not be one of the section or action names above.
    *(
        path(
            ORG + f"cases/<uuid:case>/{urls.prefix}/",
            include((urls.module, urls.namespace), namespace=urls.namespace),
        )
        for urls in extensions.case_url_modules()
    ),
    path(ORG + "incidents/", views.incidents, name="incidents"),
    path(ORG + "incidents/<uuid:incident>/", views.incident_detail, name="incident-detail"),
    path(ORG + "incidents/<uuid:incident>/qr.<str:fmt>", views.incident_qr, name="incident-qr"),
    path(ORG + "dashboard/", views.dashboard, name="dashboard"),
    path(ORG + "retention/", views.retention_settings, name="retention"),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation-accept"),
]
