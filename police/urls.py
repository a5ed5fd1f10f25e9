from django.urls import path  # noqa: F401 - the app's own routes go here

app_name = "police"

urlpatterns: list = []
