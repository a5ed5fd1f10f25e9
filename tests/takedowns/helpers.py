"""A family's case with three addresses (Instagram, Telegram, a website), its
takedown facts and the group's takedown settings, made through the app's services."""

from __future__ import annotations

from reporting.forms import submission
from support import intake
from takedowns.models import Route

URLS = [
    "https://www.instagram.com/p/DEMOfalsa1/",
    "https://t.me/demo_canal_falso/12",
    "https://fotos-falsas.example/galeria/123",
]


def make_case(org, *, age_band="14_15", takedown=True, urls=URLS, filer_role="parent"):
    answers = {
        "who": {
            "filer_role": filer_role,
            "age_band": age_band,
            "contact_preference": "email",
            "contact": "madre.privada@example.org",
        },
        "what": {"categories": ["fake_images"], "narrative": "Circula una foto falsa."},
        "where": {"urls": list(urls), "groups": []},
        "consent": {"takedown": takedown},
    }
    case, _code = intake.submit_report(
        organisation=org, incident=None, submission=submission(answers)
    )
    return case


def route(platform: str, basis: str, **filters) -> Route:
    return Route.objects.get(platform__slug=platform, basis=basis, organisation=None, **filters)


def location_on(case, host: str):
    return next(loc for loc in case.locations.all() if host in loc.value)


def ensure_registry_seed() -> None:
    """The registry and templates the data migrations seed: a transactional test run
    before may have flushed them (tests that commit must not rely on them being there)."""
    from importlib import import_module

    from django.apps import apps

    from takedowns.models import Platform

    if not Platform.objects.exists():
        for name in ("0002_seed_registry", "0003_seed_notice_templates"):
            import_module(f"takedowns.migrations.{name}").seed(apps, None)
