"""Factories shared by tests (imported by conftest and by test modules)."""

from __future__ import annotations

import uuid

from allauth.account.models import EmailAddress
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.contrib.auth import get_user_model
from django.test import Client

from support import members
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
