"""Deployment checks (`manage.py check --deploy`) for settings Django does not know."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Error, Tags, register


@register(Tags.security, deploy=True)
def check_base_url(app_configs, **kwargs):
    """Links in mail and QR codes must be https in production.

    Threat: an invitation or password-reset link sent as http:// carries its token
    in the clear to anyone on the path, and families scanning a QR code would land on
    an unencrypted page. Choice: with DEBUG off, AMPARO_BASE_URL must be an https URL
    with a host and no path.
    """
    if settings.DEBUG:
        return []
    parts = urlsplit(settings.AMPARO_BASE_URL)
    if parts.scheme != "https" or not parts.netloc or parts.path not in ("", "/"):
        return [
            Error(
                "AMPARO_BASE_URL must be the site's public https:// address "
                f"(got {settings.AMPARO_BASE_URL!r}).",
                hint="Set AMPARO_BASE_URL, for example https://amparo.example.org",
                id="amparo.E001",
            )
        ]
    return []
