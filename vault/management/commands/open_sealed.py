import getpass
import uuid
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from vault import audit, crypto, storage
from vault.audit import Actor
from vault.models import Blob
from vault.sealed import open_sealed_file


class Command(BaseCommand):
    help = (
        "Decrypt a blob sealed to a recipient with that recipient's private key file, "
        "writing the original to --out (checked against its SHA-256). Records a custody "
        "event."
    )

    def add_arguments(self, parser):
        parser.add_argument("--key", required=True, help="the recipient's private key (PEM)")
        parser.add_argument("--blob", required=True, help="the blob's UUID")
        parser.add_argument("--out", required=True, help="where to write the original")
        parser.add_argument("--ask-passphrase", action="store_true")

    def handle(self, *args, key, blob, out, ask_passphrase, **options):
        try:
            row = Blob.objects.get(uuid=uuid.UUID(blob))
        except (ValueError, Blob.DoesNotExist):
            raise CommandError("no such blob") from None
        if row.state != Blob.State.STORED or row.sealed_dek is None:
            raise CommandError("this blob is not a sealed blob that still exists")
        password = getpass.getpass("Passphrase: ").encode() if ask_passphrase else None
        # Like every other open, the custody event comes first.
        with transaction.atomic():
            audit.record(
                "blob.unsealed",
                actor=Actor.system("open_sealed"),
                object_type="blob",
                object_id=row.uuid,
                data={"recipient": str(row.recipient.uuid)},
            )
        reader = storage.evidence_store().open(row.storage_key)
        try:
            sha256 = open_sealed_file(
                reader,
                out,
                private_key_pem=Path(key).read_bytes(),
                sealed_dek=bytes(row.sealed_dek),
                blob_id=str(row.uuid),
                password=password,
                expected_sha256=row.sha256,
            )
        except crypto.IntegrityError:
            raise CommandError("this key does not open this blob (or it was altered)") from None
        except (ValueError, TypeError, FileExistsError) as exc:
            raise CommandError(str(exc)) from None
        finally:
            reader.close()
        self.stdout.write(self.style.SUCCESS(f"written to {out}; SHA-256 {sha256} matches"))
