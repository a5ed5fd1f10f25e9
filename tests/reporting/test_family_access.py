"""Receipts as credentials: throttled, and silent about which part was wrong."""

import re
import threading

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from support import intake
from support.models import Case
from tests.reporting.test_wizard import submit, walk

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def receipt(org_x):
    client = walk(Client())
    return submit(client)


def signin(reference, code, ip="198.51.100.7"):
    return Client(REMOTE_ADDR=ip).post(
        reverse("reporting:family-signin"), {"reference": reference, "code": code}
    )


def test_the_right_reference_and_code_open_the_case(receipt):
    reference, code = receipt
    formatted = "-".join(code[i : i + 4] for i in range(0, 16, 4)).lower()
    assert signin(reference, formatted).url == reverse("reporting:status")


def test_a_wrong_reference_and_a_wrong_code_look_exactly_the_same(receipt):
    reference, code = receipt
    wrong_code = signin(reference, "ABCD-EFGH-JKMN-PQRS", ip="198.51.100.1")
    wrong_reference = signin("AMP-ZZZZZZZZ", code, ip="198.51.100.2")
    assert wrong_code.status_code == wrong_reference.status_code == 200

    def body(response):
        # The form echoes the typed reference and carries a per-client CSRF token;
        # everything else must be identical.
        html = response.content.decode()
        html = re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "CSRF", html)
        return html.replace(reference, "REF").replace("AMP-ZZZZZZZZ", "REF")

    assert body(wrong_code) == body(wrong_reference)


def test_serial_guessing_is_throttled_per_case(receipt):
    reference, code = receipt
    for i in range(intake.FAMILY_ATTEMPTS_PER_CASE):
        signin(reference, "ABCD-EFGH-JKMN-PQRS", ip=f"203.0.113.{i}")
    # Even the right code is refused now, from a fresh address: the case is locked.
    assert signin(reference, code, ip="192.0.2.200").status_code == 200


def test_serial_guessing_is_throttled_per_address(org_x):
    refs = [submit(walk(Client())) for _ in range(2)]
    for i in range(intake.FAMILY_ATTEMPTS_PER_ADDRESS):
        signin(f"AMP-{i:08d}", "ABCD-EFGH-JKMN-PQRS", ip="198.51.100.50")
    reference, code = refs[0]
    assert signin(reference, code, ip="198.51.100.50").status_code == 200
    assert signin(reference, code, ip="198.51.100.51").url == reverse("reporting:status")


def test_a_parallel_burst_cannot_exceed_the_limit(receipt):
    """Twenty-five simultaneous guesses from many addresses: at most the per-case
    limit are even checked, however the web processes interleave."""
    reference, _ = receipt
    case = Case.objects.get(reference=reference)
    checked = []
    original = intake._verify_family_code

    def counting(stored, code):
        checked.append(1)
        return original(stored, code)

    intake._verify_family_code = counting
    barrier = threading.Barrier(25)

    def attempt(i):
        barrier.wait()
        try:
            intake.check_family_access(
                reference=case.reference, code="ABCD-EFGH-JKMN-PQRS", client_ip=f"10.9.0.{i}"
            )
        finally:
            connection.close()

    try:
        threads = [threading.Thread(target=attempt, args=(i,)) for i in range(25)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        intake._verify_family_code = original
    assert len(checked) == intake.FAMILY_ATTEMPTS_PER_CASE
