from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path

from . import views

# The admin signs in through allauth, so it gets the same MFA and rate limits.
admin.site.login = secure_admin_login(admin.site.login)
admin.site.site_header = "Amparo"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("accounts/", include("allauth.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("support.urls")),
    path("", include("takedowns.urls")),
    path("", include("police.urls")),
    path("", include("reporting.urls")),
    # Always routed so the view's own rule (DEBUG and an active superuser) is the one
    # gate, tested in tests/support/test_member_admin.py; otherwise a 404.
    path("dev/mail/", views.dev_mail, name="dev-mail"),
]

# A database outage is a 503 with Retry-After; every other uncaught error the 500 page.
handler500 = "amparo.views.server_error"
