"""The proof suites at small sizes, against the test run's own servers."""

from __future__ import annotations

import pytest

import tests.services
from proof import stack


@pytest.fixture(autouse=True)
def _stack():
    stack.SERVICES = tests.services._services
    yield
    stack.SERVICES = None


def assert_held(rows: list[dict]) -> None:
    failed = [(r["figure"], r["value"], r.get("details", [])[:20]) for r in rows if not r["held"]]
    assert not failed, failed
