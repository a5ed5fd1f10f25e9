from django.core.management.base import BaseCommand, CommandError

from vault.audit import verify_chain


class Command(BaseCommand):
    help = "Walk the audit chain and report the first broken link, if any."

    def handle(self, *args, **options):
        report = verify_chain()
        if not report.ok:
            raise CommandError(
                f"audit chain broken at event id {report.broken_at}: {report.reason} "
                f"({report.checked} events verified before it)"
            )
        self.stdout.write(self.style.SUCCESS(f"audit chain intact: {report.checked} events"))
