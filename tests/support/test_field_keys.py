"""Per-case field keys (vault/fields.py): round trip, binding, rotation, shredding,
and the migration of values written the former way (under the KEK-derived key)."""

import importlib

import pytest

from support import casework
from support.models import Case, Location, ReportDraft
from tests.factories import make_case
from tests.keyring import retire_all_but
from vault import crypto, fields, keys, services

pytestmark = pytest.mark.django_db

REPORT = {
    "narrative": "Nos escribieron el lunes por Instagram",
    "contact": "madre@example.org",
    "urls": ("https://example.com/a",),
}


def fresh(obj):
    fields.clear_field_key_cache()
    return type(obj)._base_manager.get(pk=obj.pk)


def test_a_case_and_its_rows_are_encrypted_under_the_case_field_key(org_x):
    case = fresh(make_case(org_x, **REPORT))
    assert case.field_key_wrapped is not None
    assert case.field_kek_version == keys.keyring().current_version
    assert case.narrative_sealed.startswith(fields.FORMAT_PREFIX)
    assert case.narrative == REPORT["narrative"]
    assert case.contact == REPORT["contact"]
    location = fresh(case.locations.get())
    assert location.value_sealed.startswith(fields.FORMAT_PREFIX)
    # Read without the case loaded: the key is fetched by the case's id (then cached).
    assert location.value == REPORT["urls"][0]
    assert location.value == REPORT["urls"][0]


def test_every_encrypted_model_has_a_field_key_owner():
    for model, _attribute in fields.encrypted_columns():
        path = fields.owner_path(model)
        owner = model
        for hop in path:
            owner = owner._meta.get_field(hop).related_model
        assert issubclass(owner, fields.FieldKeyOwner), model


def test_a_value_moved_to_another_case_or_column_does_not_decrypt(org_x):
    case_a = make_case(org_x, **REPORT)
    case_b = make_case(org_x, **REPORT)
    location = case_a.locations.get()
    # The same row, re-pointed at another case: the key differs, so it fails.
    Location.objects.filter(pk=location.pk).update(case=case_b)
    with pytest.raises(crypto.IntegrityError):
        fresh(location).value  # noqa: B018
    # Another case's ciphertext copied onto this case, same column.
    Case.objects.filter(pk=case_b.pk).update(narrative_sealed=fresh(case_a).narrative_sealed)
    with pytest.raises(crypto.IntegrityError):
        fresh(case_b).narrative  # noqa: B018
    # Another column of the same case.
    Case.objects.filter(pk=case_a.pk).update(contact_sealed=fresh(case_a).narrative_sealed)
    with pytest.raises(crypto.IntegrityError):
        fresh(case_a).contact  # noqa: B018
    assert fresh(case_a).narrative == REPORT["narrative"]


def test_a_wrapped_field_key_copied_to_another_case_does_not_unwrap(org_x):
    case_a, case_b = make_case(org_x, **REPORT), make_case(org_x, **REPORT)
    a = fresh(case_a)
    Case.objects.filter(pk=case_b.pk).update(
        field_key_wrapped=a.field_key_wrapped, narrative_sealed=a.narrative_sealed
    )
    with pytest.raises(crypto.IntegrityError):
        fresh(case_b).narrative  # noqa: B018


def test_rotation_rewraps_field_keys_so_the_old_kek_can_be_retired(org_x, settings, add_kek):
    cases = [make_case(org_x, **REPORT) for _ in range(3)]
    draft = ReportDraft()
    draft.answers = {"step": "narrative", "text": "borrador"}
    draft.save()
    before = {c.pk: bytes(fresh(c).field_key_wrapped) for c in cases}
    narrative_before = fresh(cases[0]).narrative_sealed
    new = add_kek()
    services.rotate_keys(batch_size=2)
    counts = fields.field_key_version_counts()
    assert list(counts) == [f"v{new}"] and counts[f"v{new}"] >= 4  # 3 cases and the draft
    for case in cases:
        row = fresh(case)
        assert row.field_kek_version == new
        assert bytes(row.field_key_wrapped) != before[case.pk]
    # Values are not rewritten: only the 60-byte wrapped keys changed.
    assert fresh(cases[0]).narrative_sealed == narrative_before
    retire_all_but(settings, new)
    for case in cases:
        row = fresh(case)
        assert (row.narrative, row.contact) == (REPORT["narrative"], REPORT["contact"])
        assert fresh(row.locations.get()).value == REPORT["urls"][0]
    assert fresh(draft).answers == {"step": "narrative", "text": "borrador"}


def test_a_whole_save_of_a_stale_instance_keeps_the_rotated_key(org_x, add_kek, settings):
    case = fresh(make_case(org_x, **REPORT))  # loaded before the rotation
    new = add_kek()
    services.rotate_keys()
    case.priority = 0
    case.save()
    assert fresh(case).field_kek_version == new
    retire_all_but(settings, new)
    assert fresh(case).narrative == REPORT["narrative"]


def test_shredding_a_case_destroys_its_field_key(org_x):
    case = make_case(org_x, **REPORT)
    casework.destroy_case_content(fresh(case))
    row = fresh(case)
    assert row.field_key_wrapped is None and row.field_kek_version is None
    assert row.narrative_sealed == "" and row.contact_sealed == ""
    assert not Location.objects.filter(case=case).exists()


def _write_the_old_way(obj, column: str, text: str) -> None:
    """As the code before field keys did: under the KEK-derived "field" purpose key."""
    context = f"{obj._meta.db_table}|{column}|{obj.uuid}"
    type(obj)._base_manager.filter(pk=obj.pk).update(
        **{column: keys.encrypt_text(text, purpose="field", context=context)}
    )


def test_the_migration_gives_keys_and_reencrypts_values_written_the_old_way(org_x):
    migration = importlib.import_module("support.migrations.0009_field_keys")
    case = make_case(org_x, **REPORT)
    location = case.locations.get()
    keyless = make_case(org_x)
    shredded = make_case(org_x, **REPORT)
    casework.destroy_case_content(fresh(shredded))
    _write_the_old_way(case, "narrative_sealed", "relato antiguo")
    _write_the_old_way(location, "value_sealed", "https://example.com/old")
    Case.objects.filter(pk__in=[case.pk, keyless.pk]).update(
        field_key_wrapped=None, field_kek_version=None
    )
    assert fresh(case).narrative_sealed.startswith("v")
    assert fresh(case).narrative == "relato antiguo"  # still read before the migration

    migration.give_keys_and_reencrypt(None, None)

    row = fresh(case)
    assert row.field_key_wrapped is not None
    assert row.narrative_sealed.startswith(fields.FORMAT_PREFIX)
    assert row.narrative == "relato antiguo"
    assert fresh(location).value_sealed.startswith(fields.FORMAT_PREFIX)
    assert fresh(location).value == "https://example.com/old"
    assert fresh(keyless).field_key_wrapped is not None
    assert fresh(shredded).field_key_wrapped is None  # a tombstone gets no key
    # Run again: nothing left to do.
    assert fields.reencrypt_legacy_values() == 0


def test_the_unwrapped_key_cache_is_bounded(org_x, monkeypatch):
    monkeypatch.setattr(fields, "CACHE_SIZE", 3)
    fields.clear_field_key_cache()
    for _ in range(5):
        assert fresh(make_case(org_x, **REPORT)).narrative == REPORT["narrative"]
    assert len(fields._cache) <= 3


def test_a_value_added_through_another_instance_reads_from_a_keyless_stale_one(org_x):
    case = make_case(org_x)
    Case.objects.filter(pk=case.pk).update(field_key_wrapped=None, field_kek_version=None)
    stale = fresh(case)  # loaded while the case had no key
    other = fresh(case)
    location = Location(case=other, kind=Location.Kind.URL, index="x")
    location.value = "https://example.com/z"  # creates the case's key
    location.save()
    fields.clear_field_key_cache()
    assert stale.field_key_wrapped is None
    assert stale.locations.get().value == "https://example.com/z"
    stale.save()  # a whole save must not write the NULL key back
    assert fresh(case).field_key_wrapped is not None
    assert fresh(location).value == "https://example.com/z"


def test_rotate_keys_reports_field_keys_per_version(org_x, add_kek):
    import io

    from django.core.management import call_command

    make_case(org_x, **REPORT)
    new = add_kek()
    output = io.StringIO()
    call_command("rotate_keys", stdout=output)
    text = output.getvalue()
    assert "field keys per key:" in text and f"v{new}:" in text
    assert f"every readable blob, field key and value is on KEK version {new}" in text
    assert "support.blind_indexes per key:" in text and "support.access_codes per key:" in text


def test_rotation_rewrites_invitation_tokens_and_totp_secrets(org_admin, org_x, add_kek, settings):
    from allauth.mfa.models import Authenticator

    from support import adapters, members
    from support.members import invitation_token_context

    invitation = members.invite_member(
        actor=org_admin, email="nueva@example.org", role="caseworker"
    )
    token = keys.decrypt_text(
        invitation.token_sealed, purpose="field", context=invitation_token_context(invitation)
    )
    totp = Authenticator.objects.get(user=org_admin.user, type=Authenticator.Type.TOTP)
    secret = adapters.MFAAdapter().decrypt(totp.data["secret"])
    new = add_kek()
    services.rotate_keys()
    retire_all_but(settings, new)
    invitation.refresh_from_db()
    totp.refresh_from_db()
    assert invitation.token_sealed.startswith(f"v{new}$")
    context = invitation_token_context(invitation)
    assert keys.decrypt_text(invitation.token_sealed, purpose="field", context=context) == token
    assert totp.data["secret"].startswith(f"v{new}$")
    assert adapters.MFAAdapter().decrypt(totp.data["secret"]) == secret
    assert members.reencrypt_invitation_tokens() == adapters.reencrypt_mfa_secrets() == 0
