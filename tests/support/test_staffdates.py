"""`when` formats dates itself (one compiled format per language): the same text as
Django's date_format, in every language, for dates and date-times."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.utils import formats, timezone, translation

from support.templatetags.staffdates import _format, format_when

MOMENTS = [
    datetime(2026, 1, 1, 0, 0, tzinfo=UTC),
    datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # the night the clocks go forward in Madrid
    datetime(2026, 12, 31, 23, 59, tzinfo=UTC),
    datetime(999, 5, 9, 7, 5, tzinfo=UTC),
] + [datetime(2026, 1, 15, 13, 4, tzinfo=UTC) + timedelta(days=31 * n) for n in range(12)]


@pytest.mark.parametrize("language", ["en", "es"])
def test_it_writes_what_django_writes(language):
    with translation.override(language):
        for moment in MOMENTS:
            local = timezone.localtime(moment)
            expected = formats.date_format(local, translation.gettext("j F Y, H:i"))
            assert format_when(moment) == expected
            assert format_when(moment.date()) == formats.date_format(
                moment.date(), translation.gettext("j F Y")
            )


def test_a_format_character_it_does_not_know_falls_back_to_django():
    moment = datetime(2026, 12, 3, 14, 5)
    with translation.override("en"):
        assert _format(moment, r"l \t\h\e jS", {}) == "Thursday the 3rd"


def test_empty_values_and_other_types():
    assert format_when(None) == ""
    assert format_when("") == ""
    assert format_when(7) == "7"
    with translation.override("es"):
        assert format_when(date(2026, 12, 3)) == "3 de diciembre de 2026"
