"""Backup and restore drill, and crypto-shredding against an old backup.

Threats: a backup that does not restore (nothing is lost — promise 3 — only if the
backup opens); and a shredded case that an old backup brings back (a family was
told their case is destroyed).

1. Back up as docs/vault.md describes: a `pg_dump` of the database, a copy of the
   evidence store, and the key ring (AMPARO_KEYS), each kept apart.
2. Restore into a fresh embedded PostgreSQL and a fresh store directory, then open
   every stored file (unwrap its DEK, decrypt and authenticate every segment) and
   decrypt every encrypted model field (`vault.fields.EncryptedText`).
3. Crypto-shred a case (support.casework.destroy_case_content), restore the
   *pre-shred* backup again and count what of that case still opens with the keys
   held now.
4. Follow the documented remedy (docs/vault.md "Destroying"): a new KEK, every DEK
   re-wrapped (`rotate_keys`), the old KEKs retired; count again what of that case
   opens from the old backup, and what of the live system still opens.

Readable-from-old-backup figures are reported as they are, not as hoped. Field
values, like files, are under per-owner data keys (a case's field key, wrapped under
a KEK on the case's row; vault/fields.py): until the old KEK is retired the pre-shred
backup still opens them (its rows hold the wrapped key), and after rotation and
retirement it opens none of them, while every live value still opens.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

from proof import figure, stack, zero

SUITE = "Backup and restore drill"


def backup(dest: Path) -> Path:
    """pg_dump (custom format) + a copy of the evidence store + the key ring, apart."""
    from django.conf import settings
    from django.db import connection

    dest.mkdir(parents=True)
    db = connection.settings_dict
    subprocess.run(  # noqa: S603 - the server's own pg_dump, fixed arguments
        [str(stack.pg_bin("pg_dump")), "-Fc", "--no-owner", "-f", str(dest / "db.dump"),
         *stack.connection_args(db), db["NAME"]],
        check=True, capture_output=True,
    )  # fmt: skip
    shutil.copytree(settings.EVIDENCE_ROOT, dest / "evidence")
    keys = dest / "keys"
    keys.mkdir()
    (keys / "amparo_keys").write_text(settings.AMPARO_KEYS)
    return dest


class Restored:
    """A fresh embedded PostgreSQL with the dump restored, and a fresh store copy."""

    def __init__(self, backup_dir: Path, scratch: Path) -> None:
        from amparo.localservices import PostgresServer

        self.server = PostgresServer(scratch / "postgres", delete_on_stop=True)
        self.store = scratch / "evidence"
        self.backup_dir = backup_dir

    def __enter__(self):
        import psycopg2

        self.server.start()  # creates an empty database "amparo"
        subprocess.run(  # noqa: S603 - the server's own pg_restore, fixed arguments
            [str(stack.pg_bin("pg_restore")), "--no-owner", "-h", self.server.socket_dir,
             "-U", "postgres", "-d", "amparo", str(self.backup_dir / "db.dump")],
            check=True, capture_output=True,
        )  # fmt: skip
        shutil.copytree(self.backup_dir / "evidence", self.store)
        self.conn = psycopg2.connect(dbname="amparo", user="postgres", host=self.server.socket_dir)
        return self

    def __exit__(self, *exc):
        self.conn.close()
        self.server.stop()


def encrypted_columns():
    """(model, column) for every EncryptedText attribute of every installed model."""
    from vault.fields import encrypted_columns as columns

    for model, attribute in columns():
        yield model, attribute.column


def _owner_join(model) -> tuple[str, object]:
    """SQL joining `model`'s rows (alias t) to their field-key owner (alias o), and its model."""
    from vault.fields import owner_path

    joins, alias, current = "", "t", model
    for number, hop in enumerate(owner_path(model)):
        field = current._meta.get_field(hop)
        current = field.related_model
        nxt = "o" if number == len(owner_path(model)) - 1 else f"j{number}"
        joins += f' JOIN "{current._meta.db_table}" {nxt} ON {nxt}.id = {alias}."{field.column}"'
        alias = nxt
    if alias == "t":
        joins = ""
    return joins, current


def read_fields(cursor, ring, *, case_uuid: str | None = None) -> tuple[int, int]:
    """(decrypted, total) encrypted field values, with `ring`.

    A value opens only through its owner's wrapped field key (unwrapped with `ring`),
    as the server does; values of the former format through the KEK-derived key.
    """
    from support.models import Case
    from vault import crypto
    from vault.fields import FORMAT_PREFIX

    ok = total = 0
    for model, column in encrypted_columns():
        joins, owner = _owner_join(model)
        o = "o" if joins else "t"
        where, params = "", []
        if case_uuid is not None:
            if owner is not Case:
                continue  # not a case's row
            where, params = f" AND {o}.uuid = %s", [case_uuid]
        table = model._meta.db_table
        cursor.execute(
            f'SELECT t.uuid, t."{column}", {o}.uuid, {o}.field_kek_version, '  # noqa: S608 - names from the models
            f'{o}.field_key_wrapped FROM "{table}" t{joins} WHERE t."{column}" <> \'\'{where}',
            params,
        )
        for row_uuid, stored, owner_uuid, kek_version, wrapped in cursor.fetchall():
            total += 1
            context = f"{table}|{column}|{row_uuid}"
            try:
                if stored.startswith(FORMAT_PREFIX):
                    key = crypto.unwrap_field_key(
                        ring, kek_version, bytes(wrapped),
                        owner=f"{owner._meta.db_table}|{owner_uuid}",
                    )  # fmt: skip
                    token = stored[len(FORMAT_PREFIX) :]
                else:
                    version, token = stored.split("$", 1)
                    key = crypto.derive_key(ring, "field", int(version.removeprefix("v")))
                crypto.decrypt_field(key, base64.urlsafe_b64decode(token), context=context)
            except (crypto.CryptoError, ValueError, LookupError, TypeError):
                continue
            ok += 1
    return ok, total


def read_files(cursor, store_root: Path, ring, *, case_uuid: str | None = None):
    """(opened, total) stored files: DEK unwrapped with `ring`, every segment checked."""
    from vault import crypto
    from vault.storage import FileSystemStore

    sql = "SELECT b.uuid, b.storage_key, b.kek_version, b.wrapped_dek FROM vault_blob b"
    params: list = []
    if case_uuid is not None:
        sql += (
            " JOIN support_contextfile f ON f.blob_id = b.id OR f.blob_id = b.parent_id"
            " JOIN support_case c ON c.id = f.case_id WHERE c.uuid = %s AND"
        )
        params = [case_uuid]
    else:
        sql += " WHERE"
    cursor.execute(sql + " b.wrapped_dek IS NOT NULL", params)
    store = FileSystemStore(store_root)
    ok = total = 0
    for blob_uuid, key, version, wrapped in cursor.fetchall():
        total += 1
        try:
            dek = crypto.unwrap_dek(ring, version, bytes(wrapped), blob_id=str(blob_uuid))
            with store.open(key) as fh:
                for _segment in crypto.decrypt_stream(fh, dek, blob_id=str(blob_uuid)):
                    pass
        except (crypto.CryptoError, LookupError, OSError):
            continue
        ok += 1
    return ok, total


def _ratio(pair: tuple[int, int]) -> str:
    return f"{pair[0]:,}/{pair[1]:,}"


def run(*, short: bool = False) -> list[dict]:
    from django.conf import settings
    from django.db import connection, transaction
    from django.test import override_settings

    from proof import world as world_module
    from support import casework
    from support.models import ContextFile
    from vault import crypto, keys
    from vault import services as vault_services
    from vault.audit import Actor

    world = world_module.build()
    # The case shredded is B: case A is referred to the police, and destroying a
    # referred case fails today (its consents are PROTECTed by the referral).
    shredded = world.case_b
    shredded_uuid = str(shredded.uuid)
    for i in range(2 if short else 20):
        blob = vault_services.store_stream(
            [b"captura %d " % i * 5000], actor=Actor.family(shredded.uuid),
            filename=f"b{i}.txt", content_type="text/plain",
        )  # fmt: skip
        ContextFile.objects.create(case=shredded, blob=blob)
    ring = keys.keyring()
    scratch = Path(tempfile.mkdtemp(prefix="proof-drill-"))
    rows = []
    stack_to_close: list[Restored] = []
    try:
        old = backup(scratch / "backup")
        backup_ring = crypto.parse_keyring((old / "keys" / "amparo_keys").read_text())
        # One restore of the pre-shred backup serves every read: the backup never changes.
        restored = Restored(old, scratch / "restore").__enter__()
        stack_to_close.append(restored)
        with restored.conn.cursor() as cur:
            files, fields = (
                read_files(cur, restored.store, backup_ring),
                read_fields(cur, backup_ring),
            )
        rows += [
            figure(SUITE, "files opened after restore (every segment authenticated)",
                   _ratio(files), "all", files[0] == files[1] > 0),
            figure(SUITE, "encrypted fields decrypted after restore", _ratio(fields), "all",
                   fields[0] == fields[1] > 0),
        ]  # fmt: skip

        with transaction.atomic():
            casework.destroy_case_content(shredded)
        with connection.cursor() as cur:
            live_a = read_files(cur, Path(settings.EVIDENCE_ROOT), ring, case_uuid=shredded_uuid)
        rows.append(zero(SUITE, "shredded case's files left in the live system",
                         live_a[1]))  # fmt: skip

        with restored.conn.cursor() as cur:
            kept_files = read_files(cur, restored.store, ring, case_uuid=shredded_uuid)
            kept_fields = read_fields(cur, ring, case_uuid=shredded_uuid)
        rows += [
            # docs/vault.md says so ("Not covered"): held when it is exactly that, no worse.
            figure(SUITE, "shredded case's files readable from the pre-shred backup, "
                   "KEK not yet retired", _ratio(kept_files),
                   "all (documented limit, until the KEK is retired)",
                   kept_files[0] == kept_files[1] > 0),
            figure(SUITE, "shredded case's fields readable from the pre-shred backup, "
                   "KEK not yet retired", _ratio(kept_fields),
                   "all (documented limit, until the KEK is retired)",
                   kept_fields[0] == kept_fields[1] > 0),
        ]  # fmt: skip

        # The remedy: a new KEK, every DEK re-wrapped under it, the old ones retired.
        new_version = max(ring.versions()) + 1
        new_entry = f"{new_version}:{crypto.generate_key()}"
        with override_settings(AMPARO_KEYS=f"{settings.AMPARO_KEYS},{new_entry}"):
            keys.keyring.cache_clear()
            vault_services.rotate_keys()
        keys.keyring.cache_clear()
        retired = crypto.parse_keyring(new_entry)
        with connection.cursor() as cur:
            live_files = read_files(cur, Path(settings.EVIDENCE_ROOT), retired)
            live_fields = read_fields(cur, retired)
        with restored.conn.cursor() as cur:
            gone_files = read_files(cur, restored.store, retired, case_uuid=shredded_uuid)
            gone_fields = read_fields(cur, retired, case_uuid=shredded_uuid)
        rows += [
            figure(SUITE, "after retiring the old KEK: shredded files readable from the old "
                   "backup", _ratio(gone_files), "0", gone_files[0] == 0 and gone_files[1] > 0),
            figure(SUITE, "after retiring the old KEK: live files still readable",
                   _ratio(live_files), "all", live_files[0] == live_files[1] > 0),
            figure(SUITE, "after retiring the old KEK: shredded fields readable from the old "
                   "backup", _ratio(gone_fields), "0", gone_fields[0] == 0 and gone_fields[1] > 0),
            figure(SUITE, "after retiring the old KEK: live fields still readable",
                   _ratio(live_fields), "all", live_fields[0] == live_fields[1] > 0),
        ]  # fmt: skip
    finally:
        for restored in stack_to_close:
            restored.__exit__(None, None, None)
        keys.keyring.cache_clear()
        shutil.rmtree(scratch, ignore_errors=True)
    return rows
