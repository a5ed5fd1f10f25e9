from django.urls import path

from . import views

app_name = "support"

urlpatterns = [
    path("staff/", views.home, name="home"),
    path("staff/o/<uuid:org>/", views.org_home, name="org-home"),
    path("staff/o/<uuid:org>/members/", views.members, name="members"),
    path("staff/o/<uuid:org>/members/<uuid:member>/role/", views.member_role, name="member-role"),
    path(
        "staff/o/<uuid:org>/members/<uuid:member>/deactivate/",
        views.member_deactivate,
        name="member-deactivate",
    ),
    path(
        "staff/o/<uuid:org>/invitations/<uuid:invitation>/revoke/",
        views.invitation_revoke,
        name="invitation-revoke",
    ),
    path("invitation/<str:token>/", views.invitation_accept, name="invitation-accept"),
]
