"""Factories shared by tests (imported by conftest and by test modules)."""

from __future__ import annotations

import uuid

from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.test import Client

from support import intake, members
from support.intake import EvidenceFingerprint, Handle, Submission
from vault.audit import Actor

PASSWORD = "correct horse battery staple 42"


def make_user(email: str | None = None, *, mfa: bool = True):
    email = email or f"person-{uuid.uuid4().hex[:10]}@example.org"
    user = get_user_model().objects.create_user(
        username=email.split("@")[0], email=email, password=PASSWORD
    )
    EmailAddress.objects.create(user=user, email=email, primary=True, verified=True)
    if mfa:
        TOTP.activate(user, generate_totp_secret())
    return user


def make_member(org, role: str, *, mfa: bool = True, email: str | None = None):
    user = make_user(email, mfa=mfa)
    return members.add_member(organisation=org, user=user, role=role, actor=Actor.system("tests"))


def client_for(membership_or_user) -> Client:
    user = getattr(membership_or_user, "user", membership_or_user)
    client = Client()
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


# What the wizard's full example answers (tests/reporting/test_wizard.py GOOD) become
# once the forms have normalised them.
FULL_REPORT = {
    "categories": ("fake_images", "shared_group"),
    "narrative": "Compañeros de clase.",
    "urls": ("https://instagram.com/p/AbC123", "https://t.me/canalmalo"),
    "groups": ("https://chat.whatsapp.com/AbCdEfGh123",),
    "handles": (Handle("sospechoso_1", "telegram"),),
    "phones": ("+34612345678",),
    "fingerprints": (
        EvidenceFingerprint(
            sha256="a" * 64, md5="b" * 32, pdq="f" * 64, pdq_quality=90, pdq_version="pdq-1"
        ),
    ),
    "consents": {"takedown": True, "hash_sharing": True, "contact": True, "assent": True},
}

CASE_DEFAULTS = {
    "filer_role": "parent",
    "age_band": "14_15",
    "contact_preference": "in_app",
    "categories": ("fake_images",),
}


def make_case(org, *, incident=None, **fields):
    """A case as a family's report makes it (through intake.submit_report, not the wizard).

    `fields` are `Submission` fields (categories, narrative, urls, handles, …). The
    one-time access code is kept on the instance as `access_code` for sign-in tests.
    """
    case, code = intake.submit_report(
        organisation=org, incident=incident, submission=Submission(**{**CASE_DEFAULTS, **fields})
    )
    case.access_code = code
    return case
