"""Takedown pages under a case: mounted at staff/o/<org>/cases/<case>/takedowns/."""

from django.urls import path

from . import views

urlpatterns = [
    path("facts/", views.facts, name="facts"),
    path("prepare/", views.prepare, name="prepare"),
    path("prepare-all/", views.prepare_all, name="prepare-all"),
    path("n/<uuid:notice>/", views.notice_detail, name="notice"),
    path("n/<uuid:notice>/send/", views.send, name="send"),
    path("n/<uuid:notice>/submitted/", views.submitted, name="submitted"),
    path("n/<uuid:notice>/reply/", views.reply, name="reply"),
    path("n/<uuid:notice>/state/", views.change_state, name="state"),
    path("n/<uuid:notice>/family/", views.family_guidance, name="family"),
]
