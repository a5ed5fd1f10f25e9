from django.core.management.base import BaseCommand

from vault import fields, keys, services


class Command(BaseCommand):
    help = (
        "Re-wrap every blob's data key and every field key (cases, drafts, incidents, "
        "police units), re-encrypt blob filenames and metadata and families' access-code "
        "hashes, and recompute blind indexes, under the newest key-encryption key, in "
        "batches. Safe to interrupt and run again: it continues where it stopped. Reports "
        "what is on each key version at the end, and whether older ones can be retired."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch-size", type=int, default=500)

    def handle(self, *args, batch_size, **options):
        current = keys.keyring().current_version
        self.stdout.write(f"re-wrapping under KEK version {current}")

        def progress(done: int) -> None:
            self.stdout.write(f"  {done} blobs re-wrapped")

        counts = services.rotate_keys(batch_size=max(1, batch_size), after_batch=progress)
        self.stdout.write("blobs per key:")
        for label, count in counts.items():
            self.stdout.write(f"  {label}: {count}")
        field_counts = fields.field_key_version_counts()
        self.stdout.write("field keys per key:")
        for label, count in field_counts.items():
            self.stdout.write(f"  {label}: {count}")
        stale = sum(
            n
            for label, n in [*counts.items(), *field_counts.items()]
            if label.startswith("v") and label != f"v{current}"
        )
        # What other apps keep under a KEK version (blind indexes, access-code hashes…):
        # there every label but the current version still needs an older KEK.
        for name, step_counts in services.rotation_step_counts().items():
            self.stdout.write(f"{name} per key:")
            for label, count in step_counts.items():
                self.stdout.write(f"  {label}: {count}")
            stale += sum(n for label, n in step_counts.items() if label != f"v{current}")
        if stale:
            self.stdout.write(
                self.style.WARNING(
                    f"{stale} blobs, field keys or other values still need older keys: "
                    "do not retire them yet"
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"every readable blob, field key and value is on KEK version {current}: "
                    "older versions can be retired"
                )
            )
