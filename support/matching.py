"""Linking cases that share an image or a suspect account, inside one organisation.

Images: equal SHA-256, or PDQ hashes within SAME_IMAGE_THRESHOLD bits (PostgreSQL
XOR + bit_count over bit(256): no hash leaves the database). Accounts: equal
blind indexes of normalised identifiers; nobody decrypts anything to match.
"""

from django.conf import settings
from django.db import connection, transaction

from vault.fingerprints import SAME_IMAGE_THRESHOLD

from .models import Case, CaseLink
from .outbox import outbox_task

_IMAGE_MATCHES = """
SELECT other.case_id,
       MIN(CASE WHEN other.sha256 = mine.sha256 THEN 0
                ELSE bit_count(('x' || other.pdq)::bit(256) # ('x' || mine.pdq)::bit(256)) END)
FROM support_fingerprint mine
JOIN support_fingerprint other ON other.case_id <> mine.case_id
JOIN support_case c ON c.id = other.case_id AND c.organisation_id = %(org)s
WHERE mine.case_id = %(case)s
  AND (other.sha256 = mine.sha256
       OR (mine.pdq <> '' AND other.pdq <> ''
           AND bit_count(('x' || other.pdq)::bit(256) # ('x' || mine.pdq)::bit(256))
               <= %(threshold)s))
GROUP BY other.case_id
"""

_ACCOUNT_MATCHES = """
SELECT DISTINCT other.case_id
FROM support_identifier mine
JOIN support_identifier other ON other.index = mine.index AND other.case_id <> mine.case_id
JOIN support_case c ON c.id = other.case_id AND c.organisation_id = %(org)s
WHERE mine.case_id = %(case)s
"""


def _link(case: Case, other_id: int, kind: str, distance: int | None = None) -> None:
    a, b = sorted((case.id, other_id))
    CaseLink.objects.get_or_create(
        case_a_id=a,
        case_b_id=b,
        kind=kind,
        defaults={"organisation_id": case.organisation_id, "distance": distance},
    )


@transaction.atomic
def match_case_now(case: Case) -> int:
    """Create every link the case has; idempotent. Returns the number of links found."""
    params = {
        "org": case.organisation_id,
        "case": case.id,
        "threshold": getattr(settings, "PDQ_SAME_IMAGE_THRESHOLD", SAME_IMAGE_THRESHOLD),
    }
    found = 0
    with connection.cursor() as cursor:
        cursor.execute(_IMAGE_MATCHES, params)
        for other_id, distance in cursor.fetchall():
            _link(case, other_id, CaseLink.Kind.IMAGE, distance)
            found += 1
        cursor.execute(_ACCOUNT_MATCHES, params)
        for (other_id,) in cursor.fetchall():
            _link(case, other_id, CaseLink.Kind.ACCOUNT)
            found += 1
    return found


@outbox_task("support.match_case")
def match_case(*, case: str) -> None:
    found = Case.objects.filter(uuid=case).first()
    if found is not None:
        match_case_now(found)
