"""`python manage.py verify_bundle DIR`: the offline verifier, run from the project."""

import importlib.util
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

TOOL = Path(settings.BASE_DIR) / "tools" / "verify_bundle.py"


def load_verifier():
    """tools/verify_bundle.py is one stand-alone file, not a package: load it by path."""
    spec = importlib.util.spec_from_file_location("amparo_verify_bundle", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Command(BaseCommand):
    help = "Verify a police case file: hashes, signature, custody chain and anchors, timestamp."

    def add_arguments(self, parser):
        parser.add_argument("bundle")
        parser.add_argument(
            "--public-key",
            help="trusted Ed25519 public key (PEM file or base64); default: this server's key",
        )

    def handle(self, *args, **options):
        verifier = load_verifier()
        if options["public_key"]:
            try:
                public = verifier.load_public_key(options["public_key"])
            except (OSError, ValueError) as exc:
                raise CommandError(f"cannot read the public key: {exc}") from None
        else:
            from vault import keys

            public = keys.signing_public_key()
        report = verifier.verify(options["bundle"], public)
        text = verifier.render(report)
        if not report.ok:
            raise CommandError(text)
        self.stdout.write(text)
