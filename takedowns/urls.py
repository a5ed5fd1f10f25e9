from django.urls import path

from . import views

app_name = "takedowns"

urlpatterns = [
    path("staff/o/<uuid:org>/takedowns/settings/", views.settings_page, name="settings"),
]
