"""The queue filter's selects, written out in Python, give Django's own markup."""

import uuid

import pytest
from django import forms
from django.utils import translation

from support.forms import QueueFilterForm, QuickSelect


class _Member:
    def __init__(self, email):
        self.uuid = uuid.uuid4()
        self.user = type("User", (), {"email": email})()


class _Incident:
    def __init__(self, title):
        self.uuid = uuid.uuid4()
        self.title = title


def _both(data):
    members = [_Member("ana@example.org"), _Member('"<b>"&@example.org')]
    incidents = [_Incident("Colegio <Norte> & 'Sur'")]
    quick = QueueFilterForm(data, members=members, incidents=incidents)
    django = QueueFilterForm(data, members=members, incidents=incidents)
    selects = [n for n, field in quick.fields.items() if isinstance(field.widget, QuickSelect)]
    for name in selects:
        django.fields[name].widget = forms.Select(choices=django.fields[name].choices)
    return quick, django, selects


@pytest.mark.parametrize(
    "data",
    [
        None,
        {},
        {"status": "in_progress", "priority": "0", "platform": "telegram", "order": "newest"},
        {"status": "nonsense", "priority": "9", "assignee": "me"},
    ],
)
@pytest.mark.parametrize("language", ["en", "es"])
def test_each_select_renders_as_djangos(data, language):
    with translation.override(language):
        quick, django, selects = _both(data)
        assert len(selects) == 7
        quick.is_valid() if data is not None else None
        django.is_valid() if data is not None else None
        for name in selects:
            assert str(quick[name]) == str(django[name]), name
