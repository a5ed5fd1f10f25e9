from allauth.mfa.totp.internal.auth import hotp_value, yield_hotp_counters_from_time
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from support.demo import DEMO_DEVELOPER, DEMO_PEOPLE, demo_totp_secret


class Command(BaseCommand):
    help = "Print the current TOTP code of each demo account (development only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("demo_totp runs only with DEBUG on.")
        counter = next(yield_hotp_counters_from_time())
        for email, role in [*DEMO_PEOPLE, (DEMO_DEVELOPER, "developer")]:
            code = hotp_value(demo_totp_secret(email), counter)
            self.stdout.write(f"{role:15} {email:36} {code:06d}")
