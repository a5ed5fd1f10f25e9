import sys
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from support.models import Case, Incident, Organisation
from takedowns.hashlists import FORMATS, export_hash_list
from vault.audit import Actor


class Command(BaseCommand):
    help = (
        "Export the fingerprints families consented to share, as CSV, JSON or VICS 2.0 "
        "JSON. The export is recorded in the audit log."
    )

    def add_arguments(self, parser):
        parser.add_argument("--organisation", required=True, help="organisation UUID")
        parser.add_argument("--incident", help="only this incident's cases (UUID)")
        parser.add_argument("--case", help="only this case (reference or UUID)")
        parser.add_argument("--format", choices=FORMATS, default="vics")
        parser.add_argument("--output", help="file to write (default: standard output)")

    def handle(self, *args, **options):
        organisation = self._one(Organisation.objects, "organisation", options["organisation"])
        incident = case = None
        if options["incident"]:
            incident = self._one(
                Incident.objects.filter(organisation=organisation), "incident", options["incident"]
            )
        if options["case"]:
            cases = Case.objects.filter(organisation=organisation, destroyed_at=None)
            value = options["case"]
            found = cases.filter(reference=value).first()
            case = found or self._one(cases, "case", value)
        hash_list = export_hash_list(
            actor=Actor.system("export_hashes"),
            organisation=organisation,
            fmt=options["format"],
            incident=incident,
            case=case,
        )
        if options["output"]:
            Path(options["output"]).write_bytes(hash_list.data)
            self.stderr.write(f"{hash_list.count} fingerprints written to {options['output']}")
        else:
            sys.stdout.buffer.write(hash_list.data)
            sys.stdout.flush()

    @staticmethod
    def _one(queryset, name, value):
        try:
            found = queryset.filter(uuid=value).first()
        except ValidationError:  # not a UUID at all
            found = None
        if found is None:
            raise CommandError(f"No {name} {value!r} (in this organisation).")
        return found
