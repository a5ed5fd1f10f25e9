"""Retiring the oldest KEK: blind indexes and families' access codes survive it.

Data is made under KEK v1, v2 is added, ``rotate_keys`` runs and v1 is removed from
the ring, as an operator retiring it does. Then search, label filters and case linking
still find the old rows, and families filed before sign in with their codes.
"""

import base64
import importlib

import pytest
from django.core.management import call_command

from support import casework, indexes, intake, matching, selectors
from support.intake import Handle
from support.models import Case, CaseLink, Identifier, OutboxMessage
from tests.factories import make_case
from tests.keyring import retire_all_but
from vault import crypto, fields, keys, normalize, services

pytestmark = pytest.mark.django_db

HANDLE = "cuenta_de_extorsion"
URL = "https://t.me/grupo_falso"
PHONE = "+34 600 123 456"
REPORT = {
    "urls": (URL,),
    "handles": (Handle(HANDLE, "telegram"),),
    "phones": (normalize.normalise_phone(PHONE),),
}


def found(member, q: str) -> set[int]:
    return set(selectors.queue(member, {"q": q}).values_list("pk", flat=True))


def sign_in(case, code, ip="198.51.100.7"):
    return intake.check_family_access(reference=case.reference, code=code, client_ip=ip)


def legacy_hash(code: str, version: int) -> str:
    """An access-code hash as the former design stored it: peppered under KEK `version`."""
    pepper = keys.purpose_key("access-code-pepper", version)
    return f"v{version}${crypto.hash_access_code(code, pepper)}"


def run_migration_0011():
    module = importlib.import_module("support.migrations.0011_rotatable_indexes_and_access_codes")
    module.record_versions_and_reseal(None, None)


# --- The gap: these fail on the former design ---------------------------------------


def test_search_labels_and_linking_find_rows_made_before_the_old_kek_was_retired(
    org_x, coordinator, add_kek, settings
):
    old = make_case(org_x, **REPORT)
    casework.set_labels(actor=coordinator, case=old, labels=["colegio San Roque"])
    new = add_kek()
    services.rotate_keys()
    retire_all_but(settings, new)

    assert old.pk in found(coordinator, f"@{HANDLE}")
    assert old.pk in found(coordinator, URL)
    assert old.pk in found(coordinator, PHONE)
    assert set(selectors.queue(coordinator, {"label": "Colegio  san roque"})) == {old}
    # A family filed after the retirement naming the same account is linked to it.
    later = make_case(org_x, handles=(Handle(HANDLE, "telegram"),))
    assert matching.match_case_now(later) == 1
    assert CaseLink.objects.filter(kind=CaseLink.Kind.ACCOUNT).count() == 1
    # The family adding a link it already gave does not duplicate it.
    assert intake.add_family_links(case=old, urls=[URL]) == 0
    assert old.locations.count() == 1


def test_families_filed_before_rotation_sign_in_once_the_old_kek_is_retired(
    org_x, add_kek, settings
):
    case = make_case(org_x)
    new = add_kek()
    services.rotate_keys()
    retire_all_but(settings, new)
    assert sign_in(case, case.access_code) == case
    assert sign_in(case, crypto.generate_access_code()) is None


def test_the_sign_in_page_opens_a_case_filed_before_the_old_kek_was_retired(
    org_x, add_kek, settings
):
    from django.test import Client
    from django.urls import reverse

    case = make_case(org_x)
    new = add_kek()
    services.rotate_keys()
    retire_all_but(settings, new)

    def post(code):
        return Client(REMOTE_ADDR="198.51.100.9").post(
            reverse("reporting:family-signin"), {"reference": case.reference, "code": code}
        )

    assert post(crypto.format_access_code(case.access_code)).url == reverse("reporting:status")
    wrong = post("ABCD-EFGH-JKMN-PQRS")
    assert wrong.status_code == 200 and not hasattr(wrong, "url")


# --- Blind indexes -------------------------------------------------------------------


def test_indexes_record_their_version_and_rotation_recomputes_them(org_x, coordinator, add_kek):
    case = make_case(org_x, **REPORT)
    casework.set_labels(actor=coordinator, case=case, labels=["pendiente"])
    rows = [*case.locations.all(), *case.identifiers.all(), *case.labels.all()]
    assert {r.index_kek_version for r in rows} == {keys.keyring().current_version}
    before = {(type(r), r.pk): r.index for r in rows}
    new = add_kek()
    services.rotate_keys()
    for model, pk in before:
        row = model.objects.get(pk=pk)
        assert row.index_kek_version == new and row.index != before[(model, pk)]
        assert row.index == fields.blind_index(
            *row.index_source()[:1], domain=row.index_source()[1]
        )
    assert indexes.blind_index_version_counts() == {f"v{new}": len(rows)}
    assert indexes.recompute_blind_indexes() == 0  # idempotent: nothing left to do


def test_search_finds_old_and_new_rows_while_a_rotation_is_under_way(org_x, coordinator, add_kek):
    old = make_case(org_x, **REPORT)
    casework.set_labels(actor=coordinator, case=old, labels=["colegio"])
    new = add_kek()  # restarted with the new KEK, rotate_keys not run yet
    mid = make_case(org_x, **REPORT)
    casework.set_labels(actor=coordinator, case=mid, labels=["colegio"])
    assert mid.identifiers.first().index_kek_version == new
    assert old.identifiers.first().index_kek_version == new - 1
    assert {old.pk, mid.pk} <= found(coordinator, f"@{HANDLE}")
    assert {old.pk, mid.pk} <= found(coordinator, URL)
    assert set(selectors.queue(coordinator, {"label": "colegio"})) == {old, mid}
    # A family re-sending a link it gave before the new KEK is not given it twice.
    assert intake.add_family_links(case=old, urls=[URL]) == 0


def test_a_case_filed_mid_rotation_is_linked_once_rotation_has_run(org_x, add_kek):
    old = make_case(org_x, handles=(Handle(HANDLE, "telegram"),))
    add_kek()
    mid = make_case(org_x, handles=(Handle(HANDLE, "telegram"),))
    assert matching.match_case_now(mid) == 0  # different KEK versions: no equal index yet
    OutboxMessage.objects.filter(task="support.match_case").delete()
    services.rotate_keys()
    # Rotation asked for the recomputed case to be matched again; run what it queued.
    queued = OutboxMessage.objects.filter(task="support.match_case")
    assert {m.kwargs["case"] for m in queued} == {str(old.uuid)}
    for message in queued:
        matching.match_case_now(Case.objects.get(uuid=message.kwargs["case"]))
    link = CaseLink.objects.get(kind=CaseLink.Kind.ACCOUNT)
    assert {link.case_a_id, link.case_b_id} == {old.pk, mid.pk}


def test_indexes_of_the_former_design_are_recorded_by_the_migration(org_x, coordinator, settings):
    """The former design computed every index under the *oldest* KEK in the ring and
    recorded no version. The migration records it, and recomputes under the current
    version when that is newer (as new rows are), so old and new cases still link."""
    case = make_case(org_x, **REPORT)
    rows = [*case.locations.all(), *case.identifiers.all()]
    ring = keys.keyring()
    oldest, current = min(ring.versions()), ring.current_version
    assert oldest != current  # the test ring holds two versions
    for row in rows:
        value, domain = row.index_source()
        former = crypto.blind_index(keys.purpose_key("blind-index", oldest), value, domain=domain)
        type(row).objects.filter(pk=row.pk).update(index=former, index_kek_version=None)
    assert indexes.blind_index_version_counts() == {"unrecorded": 3}
    assert case.pk in found(coordinator, f"@{HANDLE}")  # found before migrating too
    run_migration_0011()
    run_migration_0011()  # idempotent
    assert indexes.blind_index_version_counts() == {f"v{current}": 3}
    for row in rows:
        row = type(row).objects.get(pk=row.pk)
        assert row.index == fields.blind_index(row.index_source()[0], domain=row.index_source()[1])
    # With one KEK in the ring, the indexes are already under it: only recorded.
    retire_all_but(settings, current)
    Identifier.objects.filter(case=case).update(index_kek_version=None)
    before = dict(Identifier.objects.filter(case=case).values_list("pk", "index"))
    run_migration_0011()
    assert dict(Identifier.objects.filter(case=case).values_list("pk", "index")) == before
    assert indexes.blind_index_version_counts() == {f"v{current}": 3}
    assert case.pk in found(coordinator, f"@{HANDLE}")


def test_the_repeat_rule_still_sees_notices_sent_before_the_old_kek_was_retired(
    org_x, add_kek, settings
):
    from django.utils import timezone

    from takedowns.models import NoticeItem
    from takedowns.services import recent_repeats, sync_item_url_indexes
    from tests.takedowns.casedata import make_case as make_takedown_case
    from tests.takedowns.casedata import make_notice

    case = make_takedown_case(org_x)
    notice = make_notice(case, sent_at=timezone.now())
    item = NoticeItem.objects.get(notice=notice)
    new = add_kek()
    services.rotate_keys()
    retire_all_but(settings, new)
    location = case.locations.get()
    item.refresh_from_db()
    assert location.index_kek_version == new and item.url_index == location.index
    repeats = recent_repeats(organisation=org_x, route=notice.route, locations=[location])
    assert list(repeats) == [item]
    assert sync_item_url_indexes() == 0  # idempotent


# --- Access codes --------------------------------------------------------------------


def test_a_new_code_is_stored_encrypted_and_bound_to_its_case(org_x):
    case = make_case(org_x)
    stored = Case.objects.get(pk=case.pk).access_code_hash
    assert stored.startswith(f"a1$v{keys.keyring().current_version}$")
    assert "argon2" not in stored
    assert sign_in(case, case.access_code) == case
    assert sign_in(case, crypto.format_access_code(case.access_code).lower()) == case


def test_former_hashes_are_migrated_and_sign_in_after_retirement(org_x, add_kek, settings):
    case, other = make_case(org_x), make_case(org_x)
    old = keys.keyring().current_version
    # Peppered under the oldest KEK, as a family filed before that KEK was superseded.
    former = legacy_hash(case.access_code, 1)
    Case.objects.filter(pk=case.pk).update(access_code_hash=former)
    assert sign_in(case, case.access_code) is not None  # read as it is, before migrating
    Case.objects.filter(pk=case.pk).update(access_code_hash=former)
    assert intake.family_code_version_counts() == {"former v1": 1, f"v{old}": 1}
    run_migration_0011()
    migrated = Case.objects.get(pk=case.pk).access_code_hash
    run_migration_0011()  # idempotent: nothing on the current version is rewritten
    assert Case.objects.get(pk=case.pk).access_code_hash == migrated
    assert intake.family_code_version_counts() == {f"v{old}": 2}

    new = add_kek()
    call_command("rotate_keys", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert intake.family_code_version_counts() == {f"v{new}": 2}
    retire_all_but(settings, new)
    assert sign_in(case, crypto.generate_access_code()) is None
    assert sign_in(other, case.access_code) is None
    assert sign_in(case, case.access_code) == case
    assert sign_in(other, other.access_code) == other


def test_a_migrated_hash_is_renewed_without_its_old_pepper_on_sign_in(org_x):
    case = make_case(org_x)
    Case.objects.filter(pk=case.pk).update(access_code_hash=legacy_hash(case.access_code, 1))
    intake.reseal_family_codes()
    row = Case.objects.get(pk=case.pk)
    assert intake._open_family_hash(row.access_code_hash, row)[1] is not None  # pepper inside
    assert sign_in(row, crypto.generate_access_code()) is None
    assert Case.objects.get(pk=case.pk).access_code_hash == row.access_code_hash  # unchanged
    assert sign_in(row, case.access_code) == row
    renewed = Case.objects.get(pk=case.pk)
    assert renewed.access_code_hash != row.access_code_hash
    assert intake._open_family_hash(renewed.access_code_hash, renewed)[1] is None
    assert sign_in(renewed, case.access_code) == renewed


def _flip(stored: str, position: int) -> str:
    prefix, version, token = stored.split("$")
    raw = bytearray(base64.urlsafe_b64decode(token))
    raw[position] ^= 0x01
    return f"{prefix}${version}${base64.urlsafe_b64encode(bytes(raw)).decode()}"


@pytest.mark.parametrize("position", [0, 5, 40, -1])
def test_a_tampered_encrypted_hash_refuses_even_the_right_code(org_x, position):
    case = make_case(org_x)
    stored = Case.objects.get(pk=case.pk).access_code_hash
    Case.objects.filter(pk=case.pk).update(access_code_hash=_flip(stored, position))
    assert sign_in(case, case.access_code) is None


def test_a_hash_copied_from_another_case_does_not_open_it(org_x):
    """Someone who can write the database copies the hash of a case whose code they
    know onto a victim's case: the hash is bound to its case and does not open there."""
    mine, victim = make_case(org_x), make_case(org_x)
    Case.objects.filter(pk=victim.pk).update(
        access_code_hash=Case.objects.get(pk=mine.pk).access_code_hash
    )
    assert sign_in(victim, mine.access_code) is None
    assert sign_in(mine, mine.access_code) == mine


@pytest.mark.parametrize(
    "stored",
    ["", "a1$", "a1$v1$", "a1$v1$!!!", "a1$v9$AAAA", "a1$x$AAAA", "v9$$argon2id$x", "garbage"],
)
def test_malformed_or_unknown_version_hashes_refuse_without_an_error(org_x, stored):
    case = make_case(org_x)
    Case.objects.filter(pk=case.pk).update(access_code_hash=stored)
    assert sign_in(case, case.access_code) is None


def test_an_encrypted_migrated_hash_with_a_bad_pepper_refuses(org_x):
    case = make_case(org_x)
    hashed = crypto.hash_access_code(case.access_code, b"\x01" * 32)
    inner = f"p${base64.urlsafe_b64encode(b'short').decode()}${hashed}"
    Case.objects.filter(pk=case.pk).update(
        access_code_hash=intake.seal_family_hash(inner, case=case)
    )
    assert sign_in(case, case.access_code) is None


def test_rate_limiting_is_unchanged_after_retirement(org_x, add_kek, settings):
    case = make_case(org_x)
    new = add_kek()
    services.rotate_keys()
    retire_all_but(settings, new)
    for i in range(intake.FAMILY_ATTEMPTS_PER_CASE):
        assert sign_in(case, "ABCD-EFGH-JKMN-PQRS", ip=f"203.0.113.{i}") is None
    # The right code is refused now, from a fresh address: the case is locked.
    assert sign_in(case, case.access_code, ip="192.0.2.200") is None


def test_rotate_keys_reports_indexes_and_codes_and_says_when_retiring_is_safe(
    org_x, add_kek, settings
):
    import io

    make_case(org_x, **REPORT)
    new = add_kek()
    output = io.StringIO()
    call_command("rotate_keys", stdout=output)
    text = output.getvalue()
    assert f"support.blind_indexes per key:\n  v{new}: 3" in text
    assert f"support.access_codes per key:\n  v{new}: 1" in text
    assert "older versions can be retired" in text
    # A hash under a KEK already gone cannot be rewritten: the command says so.
    case = make_case(org_x)
    Case.objects.filter(pk=case.pk).update(access_code_hash="a1$v7$AAAA")
    output = io.StringIO()
    call_command("rotate_keys", stdout=output)
    assert "v7: 1" in output.getvalue() and "do not retire them yet" in output.getvalue()
