from django.urls import path

from . import views

app_name = "reporting"

urlpatterns = [
    path("", views.start, name="start"),
    path("safety/", views.staying_safe, name="staying-safe"),
    path("help/", views.help_lines, name="help"),
    path("exit/", views.quick_exit, name="quick-exit"),
]
