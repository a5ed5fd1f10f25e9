"""One date format across the staff side: `{{ value|when }}`.

"3 December 2026, 14:05" in English and "3 de diciembre de 2026, 14:05" in Spanish
(a date without a time loses the ", 14:05"), in the site's time zone. The formats
are translatable strings, so each language words its own.

A staff page shows dozens of dates (a table row each), and Django's date-format
machinery costs about 0.1 ms a call; `when` compiles each language's format once
into a list of parts and fills them in, giving the same text as
`django.utils.formats.date_format` (tests/support/test_staffdates.py compares them).
A format character it does not know falls back to Django's formatter.
"""

from __future__ import annotations

import functools
from datetime import date, datetime

from django import template
from django.utils import dateformat, timezone
from django.utils.dates import MONTHS
from django.utils.translation import get_language, gettext

register = template.Library()

# Django's format characters (django.utils.dateformat.re_formatchars).
FORMAT_CHARS = frozenset("aAbcdDeEfFgGhHiIjlLmMnNoOPrsStTUuwWyYzZ")
_PARTS = {
    "j": lambda v, months: str(v.day),
    "d": lambda v, months: f"{v.day:02d}",
    "n": lambda v, months: str(v.month),
    "m": lambda v, months: f"{v.month:02d}",
    "F": lambda v, months: months[v.month],
    "Y": lambda v, months: f"{v.year:04d}",
    "y": lambda v, months: f"{v.year % 100:02d}",
    "G": lambda v, months: str(v.hour),
    "H": lambda v, months: f"{v.hour:02d}",
    "i": lambda v, months: f"{v.minute:02d}",
}


@functools.lru_cache(maxsize=32)
def _compiled(fmt: str):
    """The format as a tuple of literal strings and part functions, or None if it
    uses a character this module does not format itself."""
    parts, escaped = [], False
    for ch in fmt:
        if escaped:
            parts.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch in FORMAT_CHARS:
            if ch not in _PARTS:
                return None
            parts.append(_PARTS[ch])
        else:
            parts.append(ch)
    return tuple(parts)


@functools.lru_cache(maxsize=32)
def _language_formats(language: str | None):
    """(date-and-time format, date format, month names) in the active language; the
    active language is part of the cache key, so each is translated once."""
    # Translators: a date and time on staff pages (Django date format characters).
    with_time = gettext("j F Y, H:i")
    # Translators: a date on staff pages (Django date format characters).
    date_only = gettext("j F Y")
    months = {number: str(name) for number, name in MONTHS.items()}
    return with_time, date_only, months


def _format(value, fmt: str, months) -> str:
    parts = _compiled(fmt)
    if parts is None:
        return dateformat.format(value, fmt)
    return "".join(part if isinstance(part, str) else part(value, months) for part in parts)


def format_when(value) -> str:
    """`when` for Python code that builds rows for a template."""
    if not value:
        return ""
    with_time, date_only, months = _language_formats(get_language())
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return _format(value, with_time, months)
    if isinstance(value, date):
        return _format(value, date_only, months)
    return str(value)


@register.filter
def when(value) -> str:
    return format_when(value)
