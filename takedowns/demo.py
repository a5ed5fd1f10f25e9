"""Demo takedown case for `make run` (development only; idempotent).

Connected to support's `demo_seeded` signal. One family's case with three
addresses — an Instagram post, a Telegram channel message and a website — its
takedown facts filled in and the group's takedown settings set, so that a
coordinator opens the case, presses "prepare all" and has, in two minutes, a DSA
notice per address, the TAKE IT DOWN request where a route applies (Instagram's,
whose form takes requests from anywhere) and the AEPD Canal Prioritario packet.
No police unit here (police/demo.py makes it).
"""

from __future__ import annotations

DEMO_URLS = (
    "https://www.instagram.com/p/DemoFalsa2026/",
    "https://t.me/demo_canal_clase/45",
    "https://fotos-clase-demo.example/galeria/17",
)
DEMO_NARRATIVE = "Demo: una foto falsa de mi hija circula en Instagram, Telegram y una web."


def seed_takedown_demo(sender=None, *, organisation, coordinator, **kwargs) -> None:
    from support import casework, intake

    from . import services
    from .models import CaseTakedownFacts

    if CaseTakedownFacts.objects.filter(case__organisation=organisation).exists():
        return
    services.save_settings(
        acting=coordinator,
        data={
            "inbox_email": "casos@demo.amparo.test",
            "notifier_name": "Asociación de madres de Almendralejo (demo)",
            "default_jurisdictions": ["ES"],
        },
    )
    case, _code = intake.submit_report(
        organisation=organisation,
        incident=None,
        submission=intake.Submission(
            filer_role="parent",
            age_band="14_15",
            contact_preference="none",
            categories=("fake_images",),
            narrative=DEMO_NARRATIVE,
            urls=DEMO_URLS,
            consents={"takedown": True, "hash_sharing": True, "contact": True},
        ),
    )
    casework.assign_case(actor=coordinator, case=case, assignee=coordinator)
    services.save_case_facts(
        acting=coordinator,
        case=case,
        data={
            "jurisdictions": ["ES"],
            "signature": "/s/ María Demo Ejemplo",
            "circumstances": "Compañeros de clase crearon la imagen con una aplicación (demo).",
            "means_of_spread": "Una cuenta de Instagram, un canal de Telegram y una web (demo).",
            "prior_actions_answered": True,
            "prior_actions": "Denuncia ante la Policía Nacional (demo).",
            "vulnerabilities": ["minor", "harassment"],
        },
    )
    _demo_host_route(organisation)


def _demo_host_route(organisation) -> None:
    """The website's host, as the group's own registry row (organisations add routes
    for hosts they deal with): its DSA notices go by email to its abuse address."""
    from .models import Basis, Channel, Platform, PlatformKind, Route

    platform, _created = Platform.objects.get_or_create(
        organisation=organisation,
        slug="fotos-clase-demo",
        defaults={
            "name": "Fotos Clase (demo host)",
            "kind": PlatformKind.WEBSITE,
            "domains": ["fotos-clase-demo.example"],
            "languages": ["es", "en"],
            "notes": "Demo row: a host the group deals with.",
        },
    )
    Route.objects.get_or_create(
        platform=platform,
        organisation=organisation,
        basis=Basis.DSA,
        defaults={
            "name": "DSA notice by email (demo)",
            "channel": Channel.EMAIL,
            "email": "abuse@fotos-clase-demo.example",
            "languages": ["es", "en"],
            "required_elements": ["urls", "explanation", "good_faith"],
            "rank": 10,
        },
    )
