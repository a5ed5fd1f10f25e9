"""Blind indexes across key rotation: recompute them under the current KEK version.

Every blind index records the KEK version whose blind-index key made it
(``index_kek_version``; vault/fields.py, "Blind indexes"). Rotation recomputes every
index not on the current version from its row's decrypted value — the values are
under the case's field key, which rotation has just re-wrapped — so that once it has
run, no search, filter or link needs an older KEK, and that KEK can be retired.
"""

from __future__ import annotations

from django.db import transaction

from vault import keys

from . import outbox
from .models import CaseLabel, Identifier, Location

INDEXED_MODELS = (Location, Identifier, CaseLabel)
# What recomputing reads of each model: named, so the data migration that calls this
# keeps working when columns are added to these tables later.
_COLUMNS = {
    Location: ("pk", "uuid", "case", "value_sealed", "index"),
    Identifier: ("pk", "uuid", "case", "kind", "platform", "value_sealed", "index"),
    CaseLabel: ("pk", "uuid", "case", "value_sealed", "index"),
}


def recompute_blind_indexes(*, batch_size: int = 500, rematch: bool = True) -> int:
    """Recompute every blind index not made under the current KEK version; return how many.

    Resumable and idempotent: rows already on the current version are skipped; each
    batch is one transaction, its rows locked, so a rotation killed at any point
    leaves each row either entirely old or entirely new.

    Linking: a case filed after the new KEK was added but before this ran was matched
    against indexes of the older version and missed equal ones. So each case whose
    identifiers are recomputed is matched again (``support.match_case``, idempotent),
    in the same transaction: it now finds cases already on the current version, and
    cases recomputed later find it in turn. (``rematch=False``: the data migration,
    where every index is still under one version and every link is already made.)
    """
    current = keys.keyring().current_version
    done = 0
    for model in INDEXED_MODELS:
        last_pk = 0
        while True:
            with transaction.atomic():
                rows = list(
                    model._base_manager.select_for_update(of=("self",))
                    .exclude(index_kek_version=current)  # NULL (unrecorded) included
                    .filter(pk__gt=last_pk)
                    .select_related("case")
                    .only(
                        *_COLUMNS[model],
                        "index_kek_version",
                        "case__uuid",
                        "case__field_kek_version",
                        "case__field_key_wrapped",
                    )
                    .order_by("pk")[:batch_size]
                )
                if not rows:
                    break
                for row in rows:
                    row.set_index()
                model._base_manager.bulk_update(rows, ["index", "index_kek_version"])
                if rematch and model is Identifier:
                    for case_uuid in sorted({str(row.case.uuid) for row in rows}):
                        outbox.enqueue("support.match_case", case=case_uuid)
                done += len(rows)
                last_pk = rows[-1].pk
    return done


def blind_index_version_counts() -> dict[str, int]:
    """Blind indexes per KEK version: ``{"v2": n, "unrecorded": m}`` (unrecorded: made
    before versions were recorded, under the oldest KEK kept at the time)."""
    from django.db.models import Count

    counts: dict[str, int] = {}
    for model in INDEXED_MODELS:
        for row in model._base_manager.values("index_kek_version").annotate(n=Count("pk")):
            version = row["index_kek_version"]
            label = "unrecorded" if version is None else f"v{version}"
            counts[label] = counts.get(label, 0) + row["n"]
    return dict(sorted(counts.items()))
