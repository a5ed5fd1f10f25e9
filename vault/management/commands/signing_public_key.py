from django.core.management.base import BaseCommand

from vault import crypto, keys
from vault.admin import signing_public_key_pem


class Command(BaseCommand):
    help = "Print the public half of AMPARO_SIGNING_KEY (base64, key id and PEM), to publish."

    def handle(self, *args, **options):
        self.stdout.write(f"key id: {keys.signing_key_id()}")
        self.stdout.write(f"base64: {crypto.public_key_to_b64(keys.signing_public_key())}")
        self.stdout.write(signing_public_key_pem())
