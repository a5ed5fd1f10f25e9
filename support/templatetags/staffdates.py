"""One date format across the staff side: `{{ value|when }}`.

"3 December 2026, 14:05" in English and "3 de diciembre de 2026, 14:05" in Spanish
(a date without a time loses the ", 14:05"), in the site's time zone. The formats
are translatable strings, so each language words its own.
"""

from __future__ import annotations

from datetime import date, datetime

from django import template
from django.utils import formats, timezone
from django.utils.translation import gettext

register = template.Library()


@register.filter
def when(value) -> str:
    if not value:
        return ""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        # Translators: a date and time on staff pages (Django date format characters).
        return formats.date_format(value, gettext("j F Y, H:i"))
    if isinstance(value, date):
        # Translators: a date on staff pages (Django date format characters).
        return formats.date_format(value, gettext("j F Y"))
    return str(value)
