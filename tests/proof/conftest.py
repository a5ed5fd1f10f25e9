"""The proof suites at small sizes, against the test run's own servers."""

from __future__ import annotations

import pytest

import tests.services
from proof import stack


@pytest.fixture(autouse=True)
def _registry(request):
    """The suites that commit (transactional tests) need the takedown registry the data
    migrations seed; an earlier transactional test may have flushed it. (Serialized
    rollback would restore it but collides with the content types a flush re-creates.)"""
    if request.node.get_closest_marker("django_db") is not None:
        from tests.takedowns.helpers import ensure_registry_seed

        request.getfixturevalue("_django_db_helper")  # the database first
        ensure_registry_seed()


@pytest.fixture(autouse=True)
def _stack():
    stack.SERVICES = tests.services._services
    yield
    stack.SERVICES = None


def assert_held(rows: list[dict]) -> None:
    failed = [(r["figure"], r["value"], r.get("details", [])[:20]) for r in rows if not r["held"]]
    assert not failed, failed
