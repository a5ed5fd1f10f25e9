from django.urls import path

from . import views

app_name = "reporting"

urlpatterns = [
    path("", views.start, name="start"),
    path("safety/", views.staying_safe, name="staying-safe"),
    path("help/", views.help_lines, name="help"),
    path("exit/", views.quick_exit, name="quick-exit"),
    path("report/", views.report_start, name="report"),
    path("report/group/", views.choose_group, name="choose-group"),
    path("report/check/", views.report_check, name="check"),
    path("report/files/", views.draft_upload, name="draft-upload"),
    path("report/<slug:step>/", views.report_step, name="step"),
    path("i/<str:code>/", views.incident_entry, name="incident"),
    path("receipt/", views.receipt, name="receipt"),
    path("receipt/download/", views.receipt_download, name="receipt-download"),
    path("receipt/saved/", views.receipt_done, name="receipt-done"),
    path("case/", views.family_signin, name="family-signin"),
    path("case/status/", views.family_status, name="status"),
    path("case/files/", views.family_upload, name="family-upload"),
    path("case/permissions/<slug:kind>/", views.family_permission, name="permission"),
    path("case/delete/", views.family_erasure, name="erasure"),
    path("case/leave/", views.family_signout, name="family-signout"),
]
