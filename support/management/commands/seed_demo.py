import time

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, hotp_value, yield_hotp_counters_from_time
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from support import members
from support.demo import (
    DEMO_DEVELOPER,
    DEMO_ORG,
    DEMO_PASSWORD,
    DEMO_PEOPLE,
    demo_seeded,
    demo_totp_secret,
    seed_bulk,
    seed_story,
)
from support.models import Membership, Organisation
from vault.audit import Actor


class Command(BaseCommand):
    help = "Create the demo organisation, its people and cases (development only; idempotent)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--cases",
            type=int,
            default=0,
            help="Also add this many synthetic cases (benchmarks), e.g. 100000.",
        )

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo refuses to run with DEBUG off: demo passwords are public."
            )
        actor = Actor.system("seed_demo")
        with transaction.atomic():
            org = Organisation.objects.filter(name=DEMO_ORG).first()
            if org is None:
                org = members.create_organisation(name=DEMO_ORG, actor=actor)
            User = get_user_model()
            for email, role in DEMO_PEOPLE:
                user = User.objects.filter(email=email).first()
                if user is None:
                    user = User.objects.create_user(
                        username=email.split("@")[0], email=email, password=DEMO_PASSWORD
                    )
                    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
                if not user.memberships.filter(organisation=org).exists():
                    members.add_member(organisation=org, user=user, role=role, actor=actor)
                if not Authenticator.objects.filter(
                    user=user, type=Authenticator.Type.TOTP
                ).exists():
                    TOTP.activate(user, demo_totp_secret(email))
            developer = User.objects.filter(email=DEMO_DEVELOPER).first()
            if developer is None:
                developer = User.objects.create_superuser(
                    username=DEMO_DEVELOPER.split("@")[0],
                    email=DEMO_DEVELOPER,
                    password=DEMO_PASSWORD,
                )
                EmailAddress.objects.create(
                    user=developer, email=DEMO_DEVELOPER, primary=True, verified=True
                )
                TOTP.activate(developer, demo_totp_secret(DEMO_DEVELOPER))
            coordinator = Membership.objects.get(organisation=org, user__email=DEMO_PEOPLE[0][0])
            seed_story(organisation=org, coordinator=coordinator)
            demo_seeded.send(sender=self.__class__, organisation=org, coordinator=coordinator)
        if options["cases"]:
            started = time.monotonic()
            made = seed_bulk(organisation=org, count=options["cases"])
            self.stdout.write(f"Added {made} synthetic cases in {time.monotonic() - started:.0f} s")
        self.stdout.write(self.style.SUCCESS(f"Demo organisation: {DEMO_ORG}"))
        self.stdout.write(f"Password for every demo account: {DEMO_PASSWORD}")
        for email, role in [*DEMO_PEOPLE, (DEMO_DEVELOPER, "developer")]:
            secret = demo_totp_secret(email)
            code = f"{hotp_value(secret, next(yield_hotp_counters_from_time())):06d}"
            self.stdout.write(f"  {role:15} {email:36} TOTP secret {secret}  (code now: {code})")
        self.stdout.write("Current codes any time: python manage.py demo_totp")
