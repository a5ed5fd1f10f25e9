from django.core.management.base import BaseCommand, CommandError

from vault import crypto, keys


class Command(BaseCommand):
    help = (
        "Print a new 256-bit key-encryption key as a VERSION:KEY entry for AMPARO_KEYS "
        "(the next version after the current key ring). Nothing is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--key-version", type=int, help="version number to use (default: current + 1, or 1)"
        )

    def handle(self, *args, key_version=None, **options):
        version = key_version
        if version is None:
            try:
                version = keys.keyring().current_version + 1
            except Exception:
                # No usable key ring yet (first installation): start at 1.
                version = 1
        if version < 1:
            raise CommandError("the version must be a positive integer")
        self.stdout.write(f"{version}:{crypto.generate_key()}")
