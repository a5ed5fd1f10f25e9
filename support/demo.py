"""Demo organisation and people for local use (`make run`). Never in production."""

import base64
import hashlib

from django.dispatch import Signal

# Sent by `seed_demo` once the organisation, its people and cases exist, with
# `organisation` and `coordinator`: the apps above support add their own demo data
# (a police unit…) without support importing them.
demo_seeded = Signal()

DEMO_ORG = "Asociación de madres — Almendralejo (demo)"
DEMO_PASSWORD = "amparo-demo-2026"  # noqa: S105 - documented, DEBUG-only demo accounts
DEMO_PEOPLE = [
    ("coordinadora@demo.amparo.test", "coordinator"),
    ("trabajadora@demo.amparo.test", "caseworker"),
    ("enlace.policial@demo.amparo.test", "police_liaison"),
    ("admin@demo.amparo.test", "org_admin"),
]
# The site's developer/operator: a superuser in no organisation, for what only they may
# open in development (the mail folder at /dev/mail/, the platform registry in /admin/).
DEMO_DEVELOPER = "desarrollo@demo.amparo.test"


def demo_totp_secret(email: str) -> str:
    """A fixed, documented TOTP secret per demo account (base32, 160 bits)."""
    digest = hashlib.sha256(b"amparo-demo-totp:" + email.encode()).digest()[:20]
    return base64.b32encode(digest).decode()


# --- Demo cases ------------------------------------------------------------------------
# One incident told as it happened in Almendralejo: several families of one school,
# two of them fingerprinting the same image and naming the same Telegram account, one
# being extorted. Everything is invented; no real person, account or image.

STORY = [
    {
        "filer_role": "parent", "age_band": "14_15", "contact_preference": "in_app",
        "categories": ("fake_images", "shared_group"),
        "narrative": "Unas compañeras nos avisaron de que circula una foto falsa de mi hija "
        "en un grupo de WhatsApp del instituto.",
        "urls": ("https://t.me/demo_canal_falso/12",),
        "handles": (("demo_sospechoso", "telegram"),),
        "pdq": "e" * 16 + "0" * 48,
    },
    {
        "filer_role": "parent", "age_band": "12_13", "contact_preference": "email",
        "contact": "familia2@demo.amparo.test",
        "categories": ("fake_images",), "narrative": "Mi hija de 13 años está muy mal.",
        "urls": ("https://t.me/demo_canal_falso/15",),
        "handles": (("demo_sospechoso", "telegram"),),
        "pdq": "e" * 16 + "0" * 47 + "1",
    },
    {
        "filer_role": "young_person", "age_band": "16_17", "contact_preference": "in_app",
        "categories": ("sextortion",),
        "narrative": "Una cuenta me pide 200 euros o enviará la foto a mis contactos.",
        "payments": ("ES00 0000 0000 0000 0000 0000",),
        "demanding_handle": "demo_extorsion", "demanding_platform": "instagram",
        "urls": ("https://instagram.com/demo_extorsion",),
        "pdq": "",
    },
    {
        "filer_role": "parent", "age_band": "14_15", "contact_preference": "none",
        "categories": ("shared_group",), "narrative": "",
        "groups": ("https://chat.whatsapp.com/DemoGrupoClase1",),
        "pdq": "",
    },
]  # fmt: skip


def seed_story(*, organisation, coordinator) -> None:
    """The incident and its families (idempotent: skipped if the incident exists)."""
    from . import casework, intake
    from .models import Incident

    if Incident.objects.filter(organisation=organisation).exists():
        return
    incident = casework.create_incident(
        actor=coordinator, title="IES de Almendralejo — septiembre (demo)"
    )
    for i, family in enumerate(STORY):
        fields = {k: v for k, v in family.items() if k not in {"pdq", "handles"}}
        fields["handles"] = tuple(intake.Handle(*h) for h in family.get("handles", ()))
        if family["pdq"]:
            fields["fingerprints"] = (intake.EvidenceFingerprint(
                sha256=f"{i:064x}", md5=f"{i:032x}", pdq=family["pdq"], pdq_quality=90,
                pdq_version="pdq-1:exif-transpose,rgb,max512-intbox", media="image",
                size=180_000,
            ),)  # fmt: skip
        fields["consents"] = {"takedown": True, "hash_sharing": True, "contact": True}
        if i == 0:
            # The first family also agreed to a police referral (the demo's police case).
            fields["consents"]["police"] = True
        case, _code = intake.submit_report(
            organisation=organisation, incident=incident, submission=intake.Submission(**fields)
        )
        from .matching import match_case_now

        match_case_now(case)
        if i == 0:
            intake.add_family_message(case=case, body="¿Podéis ayudarnos a que lo borren?")


def seed_bulk(*, organisation, count: int, seed: int = 2023, batch: int = 5000) -> int:
    """`count` synthetic cases with a realistic mix, for benchmarks (bulk inserts).

    They share one access-code hash of a code nobody knows: nobody can sign in to
    them. Fingerprints and identifiers repeat across families as in real incidents.
    """
    import random

    from django.db import connection, transaction

    from vault import crypto

    from .intake import seal_family_hash
    from .models import (
        AgeBand,
        Case,
        CaseStatus,
        ContactPreference,
        FilerRole,
        Fingerprint,
        Identifier,
        Incident,
        Location,
        Priority,
    )

    rng = random.Random(seed)
    # One Argon2id hash for every demo case (it costs ~0.1 s); each case's copy is
    # encrypted apart, since the encryption is bound to the case.
    code_hash = crypto.hash_access_code(crypto.generate_access_code())
    incidents = list(Incident.objects.filter(organisation=organisation)) or [None]
    statuses = [s for s, _ in CaseStatus.choices]
    platforms = ["telegram", "whatsapp", "instagram", "tiktok", "x"]
    image_pool = [f"{rng.getrandbits(256):064x}" for _ in range(max(count // 3, 1))]
    handle_pool = [f"cuenta_{i:06d}" for i in range(max(count // 4, 1))]
    made = 0
    while made < count:
        n = min(batch, count - made)
        with transaction.atomic():
            cases = []
            for _ in range(n):
                categories = rng.choice(
                    [["fake_images"], ["fake_images", "shared_group"], ["sextortion"]]
                )
                case = Case(
                    organisation=organisation,
                    incident=rng.choice(incidents) if rng.random() < 0.3 else None,
                    reference=crypto.generate_case_reference(),
                    status=rng.choice(statuses),
                    priority=Priority.URGENT
                    if "sextortion" in categories
                    else rng.choice([1, 2, 2]),
                    filer_role=rng.choice(FilerRole.values),
                    age_band=rng.choice(AgeBand.values[:4]),
                    contact_preference=ContactPreference.IN_APP,
                    categories=categories,
                    is_sextortion="sextortion" in categories,
                )
                case.access_code_hash = seal_family_hash(code_hash, case=case)
                case.narrative = "Caso de demostración generado para pruebas de rendimiento."
                cases.append(case)
            Case.objects.bulk_create(cases)
            locations, identifiers, fingerprints = [], [], []
            for case in cases:
                platform = rng.choice(platforms)
                url = (
                    f"https://t.me/demo_{rng.randrange(count)}"
                    if platform == "telegram"
                    else (f"https://{platform}.com/demo/{rng.randrange(count)}")
                )
                loc = Location(case=case, kind=Location.Kind.URL, platform=platform)
                loc.value = url
                loc.set_index()
                locations.append(loc)
                handle = rng.choice(handle_pool)
                ident = Identifier(case=case, kind=Identifier.Kind.HANDLE, platform="telegram")
                ident.value = handle
                ident.set_index()
                identifiers.append(ident)
                pdq = rng.choice(image_pool)
                fingerprints.append(
                    Fingerprint(
                        case=case,
                        sha256=f"{rng.getrandbits(256):064x}",
                        md5=f"{rng.getrandbits(128):032x}",
                        pdq=pdq,
                        pdq_quality=90,
                        pdq_version="pdq-1",
                        media="image",
                    )
                )
            Location.objects.bulk_create(locations)
            Identifier.objects.bulk_create(identifiers)
            Fingerprint.objects.bulk_create(fingerprints)
            # Spread the cases over two years, as real intake would be.
            with connection.cursor() as cursor:
                cursor.execute(
                    "UPDATE support_case SET created_at = now() - (random() * interval '730 days')"
                    " WHERE id = ANY(%s)",
                    [[c.id for c in cases]],
                )
        made += n
    return made
