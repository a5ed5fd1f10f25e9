from allauth.account.decorators import secure_admin_login
from django.conf import settings
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
]

if settings.DEBUG:
    urlpatterns.append(path("dev/mail/", views.dev_mail, name="dev-mail"))
