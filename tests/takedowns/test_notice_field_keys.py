"""Takedown rows under their case's field key (vault/fields.py), including a notice's
log, which reaches its case through the notice; and their migration from the former
KEK-derived format (takedowns' 0007_field_keys)."""

import importlib

import pytest

from support import casework
from takedowns.models import Notice, NoticeEvent
from tests.takedowns.casedata import make_case, make_notice
from vault import crypto, fields, keys

pytestmark = pytest.mark.django_db


def _old_way(obj, column, text):
    context = f"{obj._meta.db_table}|{column}|{obj.uuid}"
    type(obj).objects.filter(pk=obj.pk).update(
        **{column: keys.encrypt_text(text, purpose="field", context=context)}
    )


def test_a_notice_and_its_log_migrate_to_the_case_field_key_and_go_with_the_case(org_x):
    case = make_case(org_x)
    notice = make_notice(case)
    event = NoticeEvent(notice=notice, kind=NoticeEvent.Kind.REPLY)
    event.text = "Contenido retirado"
    event.save()
    fields.clear_field_key_cache()
    assert NoticeEvent.objects.get(pk=event.pk).text == "Contenido retirado"
    _old_way(notice, "body_sealed", "Solicitamos la retirada")
    _old_way(event, "text_sealed", "Respuesta antigua")

    importlib.import_module("takedowns.migrations.0007_field_keys").reencrypt(None, None)

    fields.clear_field_key_cache()
    notice, event = Notice.objects.get(pk=notice.pk), NoticeEvent.objects.get(pk=event.pk)
    assert notice.body_sealed.startswith(fields.FORMAT_PREFIX)
    assert event.text_sealed.startswith(fields.FORMAT_PREFIX)
    assert (notice.body, event.text) == ("Solicitamos la retirada", "Respuesta antigua")

    # The event's value is bound to its case's key: moved under another case's notice,
    # it does not open; and shredding the case destroys that key.
    other = make_notice(make_case(org_x))
    NoticeEvent.objects.filter(pk=event.pk).update(notice=other)
    fields.clear_field_key_cache()
    with pytest.raises(crypto.IntegrityError):
        NoticeEvent.objects.get(pk=event.pk).text  # noqa: B018
    NoticeEvent.objects.filter(pk=event.pk).update(notice=notice)
    casework.destroy_case_content(case)
    case.refresh_from_db()
    assert case.field_key_wrapped is None
    assert not NoticeEvent.objects.filter(pk=event.pk).exists()
