"""Personas shared by every test: one family's helpers in organisation X, and an
outsider from organisation Y. Data is made through the same services the app uses."""

from __future__ import annotations

import pytest

from support import members
from support.models import Role
from tests import keyring
from tests.factories import make_member
from vault.audit import Actor


@pytest.fixture(autouse=True)
def _isolated_cache(settings):
    """Each test starts with an empty shared cache (rate limits, TOTP replay memory)."""
    from django.core.cache import cache

    cache.clear()
    # Password hashing strength is not under test; the default Argon2 costs ~0.1 s a user.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def org_x(db):
    return members.create_organisation(name="Grupo X", actor=Actor.system("tests"))


@pytest.fixture
def org_y(db):
    return members.create_organisation(name="Grupo Y", actor=Actor.system("tests"))


@pytest.fixture
def coordinator(org_x):
    return make_member(org_x, Role.COORDINATOR)


@pytest.fixture
def caseworker(org_x):
    return make_member(org_x, Role.CASEWORKER)


@pytest.fixture
def police_liaison(org_x):
    return make_member(org_x, Role.POLICE_LIAISON)


@pytest.fixture
def org_admin(org_x):
    return make_member(org_x, Role.ORG_ADMIN)


@pytest.fixture
def outsider_admin(org_y):
    """An organisation administrator of another organisation."""
    return make_member(org_y, Role.ORG_ADMIN)


@pytest.fixture
def add_kek(settings):
    """Append a new key-encryption key to the ring, as an operator rotating keys does."""
    yield lambda: keyring.add_kek(settings)
    keyring.forget_keys()
