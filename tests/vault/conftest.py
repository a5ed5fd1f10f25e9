from __future__ import annotations

import pytest

from vault import crypto, keys
from vault.audit import Actor


@pytest.fixture
def evidence_root(settings, tmp_path):
    """A fresh, empty evidence directory for this test."""
    root = tmp_path / "evidence"
    settings.EVIDENCE_ROOT = root
    return root


@pytest.fixture
def actor() -> Actor:
    return Actor.system("tests")


@pytest.fixture
def add_kek(settings):
    """Append a new key-encryption key to the ring, as an operator rotating keys does."""

    def add() -> int:
        version = keys.keyring().current_version + 1
        settings.AMPARO_KEYS = f"{settings.AMPARO_KEYS},{version}:{crypto.generate_key()}"
        keys.keyring.cache_clear()
        return version

    yield add
    keys.keyring.cache_clear()
