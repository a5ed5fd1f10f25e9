import getpass
import os

from django.core.management.base import BaseCommand, CommandError

from vault import crypto, services
from vault.audit import Actor


class Command(BaseCommand):
    help = (
        "Generate an X25519 key pair for a recipient (a police unit): write the private "
        "key to --out (mode 0600) for the unit to keep offline, and register only the "
        "public key. Blobs sealed to it can then be opened only with that file."
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True, help="who holds the key, e.g. the unit")
        parser.add_argument("--out", required=True, help="file for the private key (PEM)")
        parser.add_argument(
            "--ask-passphrase",
            action="store_true",
            help="encrypt the private key file with a passphrase typed now",
        )

    def handle(self, *args, name, out, ask_passphrase, **options):
        password = None
        if ask_passphrase:
            password = getpass.getpass("Passphrase: ").encode()
            if password != getpass.getpass("Again: ").encode() or not password:
                raise CommandError("the passphrases are empty or differ")
        private, public = crypto.generate_recipient_keypair()
        pem = crypto.private_key_to_pem(private, password)
        try:
            # O_EXCL: never overwrite another unit's key file.
            fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise CommandError(f"{out} already exists") from None
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        del private, pem
        recipient = services.register_recipient_key(
            name=name, public_key=public, actor=Actor.system("create_recipient_key")
        )
        self.stdout.write(f"recipient key {recipient.uuid} registered for {name}")
        self.stdout.write(f"fingerprint: {recipient.fingerprint}")
        self.stdout.write(
            f"private key written to {out}: move it off this machine to the unit, "
            "and compare the fingerprint with them before sealing anything to it."
        )
