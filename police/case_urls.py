"""Mounted under a support case (`staff/o/<org>/cases/<case>/police/`) through
support.extensions: the coordinator's referral actions from the case page."""

from django.urls import path

from . import views

urlpatterns = [
    path("refer/", views.refer, name="refer"),
    path("referrals/<uuid:referral>/withdraw/", views.withdraw, name="withdraw"),
]
