"""Linking cases that share an image or a suspect account, inside one organisation.

Images: equal SHA-256 (an indexed SQL lookup), or PDQ hashes within
SAME_IMAGE_THRESHOLD bits, found by the in-memory multi-index in vault.pdqindex
(exact: the same answer as scanning every stored hash). Accounts: equal blind
indexes of normalised identifiers; nobody decrypts anything to match.
"""

from __future__ import annotations

import threading

import numpy as np
from django.conf import settings
from django.db import connection, transaction

from vault.fingerprints import SAME_IMAGE_THRESHOLD
from vault.pdqindex import PDQIndex, brute_force, hashes_to_array

from .models import Case, CaseLink, Fingerprint
from .outbox import outbox_task

_SAME_SHA = """
SELECT DISTINCT other.case_id
FROM support_fingerprint mine
JOIN support_fingerprint other ON other.sha256 = mine.sha256 AND other.case_id <> mine.case_id
JOIN support_case c ON c.id = other.case_id AND c.organisation_id = %(org)s
WHERE mine.case_id = %(case)s
"""

_ACCOUNT_MATCHES = """
SELECT DISTINCT other.case_id
FROM support_identifier mine
JOIN support_identifier other ON other.index = mine.index AND other.case_id <> mine.case_id
JOIN support_case c ON c.id = other.case_id AND c.organisation_id = %(org)s
WHERE mine.case_id = %(case)s
"""

# Above this many unindexed new hashes an organisation's index is rebuilt.
DELTA_LIMIT = 20_000


class OrganisationIndex:
    """PDQ hashes of one organisation: a built index plus a small list of newer rows.

    Lives in the worker process. New fingerprints since the last refresh are read
    by id and scanned directly until there are enough to rebuild.
    """

    def __init__(self, organisation_id: int):
        self.organisation_id = organisation_id
        self.max_id = 0
        self.base = PDQIndex(np.empty((0, 4), np.uint64))
        self.base_cases = np.empty(0, np.int64)
        self.delta_hashes: list[str] = []
        self.delta_cases: list[int] = []

    def refresh(self) -> None:
        rows = list(
            Fingerprint.objects.filter(
                case__organisation_id=self.organisation_id,
                id__gt=self.max_id,
                case__destroyed_at=None,
            )
            .exclude(pdq="")
            .order_by("id")
            .values_list("id", "pdq", "case_id")
        )
        if not rows:
            return
        self.max_id = rows[-1][0]
        self.delta_hashes += [r[1] for r in rows]
        self.delta_cases += [r[2] for r in rows]
        if len(self.delta_hashes) > DELTA_LIMIT:
            hashes = np.concatenate([self.base.hashes, hashes_to_array(self.delta_hashes)])
            self.base = PDQIndex(hashes)
            self.base_cases = np.concatenate([self.base_cases, np.array(self.delta_cases)])
            self.delta_hashes, self.delta_cases = [], []

    def search(self, pdq_hex: str, threshold: int) -> dict[int, int]:
        """{case id: smallest distance} of stored hashes within `threshold` bits."""
        query = hashes_to_array([pdq_hex])[0]
        found: dict[int, int] = {}
        rows, distances = self.base.search(query, threshold)
        for row, distance in zip(rows, distances, strict=True):
            case_id = int(self.base_cases[row])
            found[case_id] = min(found.get(case_id, 256), int(distance))
        if self.delta_hashes:
            delta = hashes_to_array(self.delta_hashes)
            for row in brute_force(delta, query, threshold):
                distance = int(np.bitwise_count(delta[row] ^ query).sum())
                case_id = self.delta_cases[row]
                found[case_id] = min(found.get(case_id, 256), distance)
        return found


_indexes: dict[int, OrganisationIndex] = {}
_lock = threading.Lock()


def organisation_index(organisation_id: int) -> OrganisationIndex:
    with _lock:
        index = _indexes.setdefault(organisation_id, OrganisationIndex(organisation_id))
        index.refresh()
        return index


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
    """Create every link the case has; idempotent. Returns the number of linked cases."""
    threshold = getattr(settings, "PDQ_SAME_IMAGE_THRESHOLD", SAME_IMAGE_THRESHOLD)
    params = {"org": case.organisation_id, "case": case.id}
    images: dict[int, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(_SAME_SHA, params)
        images.update({other_id: 0 for (other_id,) in cursor.fetchall()})
        own = list(case.fingerprints.exclude(pdq="").values_list("pdq", flat=True))
        if own:
            index = organisation_index(case.organisation_id)
            for pdq in own:
                for other_id, distance in index.search(pdq, threshold).items():
                    if other_id != case.id:
                        images[other_id] = min(images.get(other_id, 256), distance)
        cursor.execute(_ACCOUNT_MATCHES, params)
        accounts = [other_id for (other_id,) in cursor.fetchall()]
    # The in-memory index may still hold hashes of cases destroyed since it was built.
    alive = set(
        Case.objects.filter(id__in=images.keys(), destroyed_at=None).values_list("id", flat=True)
    )
    images = {k: v for k, v in images.items() if k in alive}
    for other_id, distance in images.items():
        _link(case, other_id, CaseLink.Kind.IMAGE, distance)
    for other_id in accounts:
        _link(case, other_id, CaseLink.Kind.ACCOUNT)
    return len(images) + len(accounts)


@outbox_task("support.match_case")
def match_case(*, case: str) -> None:
    found = Case.objects.filter(uuid=case).first()
    if found is not None:
        match_case_now(found)
