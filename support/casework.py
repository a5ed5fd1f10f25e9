"""State changes of the staff's case work: triage, status, notes, replies, tasks,
referrals, incidents, retention. Same rules as every service: one transaction each,
keyword-only arguments, the acting membership explicit as `actor`, the audit event inside.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from vault import audit, crypto
from vault import services as vault_services
from vault.fields import EncryptedText, forget_field_key

from . import events, extensions, outbox
from .events import ServiceError, lock_live_case
from .models import (
    Case,
    CaseStatus,
    ContactPreference,
    ContextFile,
    EvidenceReason,
    Incident,
    Membership,
    Message,
    Note,
    Referral,
    Role,
    Task,
)
from .permissions import require

S = CaseStatus
TRANSITIONS = {
    S.NEW: {S.TRIAGED, S.IN_PROGRESS, S.CLOSED},
    S.TRIAGED: {S.IN_PROGRESS, S.WAITING, S.REFERRED, S.CLOSED},
    S.IN_PROGRESS: {S.WAITING, S.REFERRED, S.CLOSED},
    S.WAITING: {S.IN_PROGRESS, S.REFERRED, S.CLOSED},
    S.REFERRED: {S.IN_PROGRESS, S.WAITING, S.CLOSED},
    S.CLOSED: {S.IN_PROGRESS},  # reopen
}
RETENTION_MIN_DAYS = 30
RETENTION_MAX_DAYS = 3650


def _event(case: Case, event: str, actor: Membership, origin: str, data=None) -> None:
    events.record(event, actor=actor, on=case, origin=origin, data=data)


def _lock(case: Case) -> Case:
    return Case.objects.select_for_update().get(pk=case.pk)


def _responded(case: Case) -> None:
    if case.first_response_at is None:
        case.first_response_at = timezone.now()


@transaction.atomic
def change_status(*, actor: Membership, case: Case, status: str, origin: str = "") -> Case:
    case = lock_live_case(case)
    require(actor, "case.status", case=case)
    if status not in TRANSITIONS.get(case.status, set()):
        raise ServiceError("bad-transition")
    previous = case.status
    case.status = status
    case.closed_at = timezone.now() if status == S.CLOSED else None
    case.retention_warned_at = None
    _responded(case)
    case.save()
    event = {S.TRIAGED: "case.triaged", S.CLOSED: "case.closed"}.get(status, "case.status_changed")
    if previous == S.CLOSED:
        event = "case.reopened"
    _event(case, event, actor, origin, {"from": previous, "to": status})
    return case


@transaction.atomic
def assign_case(
    *, actor: Membership, case: Case, assignee: Membership | None, origin: str = ""
) -> Case:
    """Coordinators assign anyone active with case access; caseworkers may only take a case
    nobody has (the permission table's `case.take`; anything else is `case.assign`)."""
    case = lock_live_case(case)
    taking = assignee is not None and assignee.pk == actor.pk and case.assignee_id is None
    require(actor, "case.take" if taking else "case.assign", case=case)
    if assignee is not None and (
        assignee.organisation_id != actor.organisation_id
        or not assignee.is_active
        or assignee.role not in {Role.COORDINATOR, Role.CASEWORKER}
    ):
        raise ServiceError("bad-assignee")
    previous = str(case.assignee.uuid) if case.assignee else ""
    case.assignee = assignee
    _responded(case)
    case.save()
    _event(
        case,
        "case.assigned",
        actor,
        origin,
        {"from": previous, "to": str(assignee.uuid) if assignee else ""},
    )
    return case


@transaction.atomic
def take_case(*, actor: Membership, case: Case, origin: str = "") -> Case:
    """The actor takes a case nobody has (the permission table's `case.take`).

    Two members may press "Take" on the same new case: the second finds it taken,
    which is ServiceError("already-taken") — told apart from a role or a case the
    actor may not take at all (PermissionDenied) — and nothing changes. Taking never
    moves a case from one member to another; a coordinator does that with
    `assign_case`.
    """
    case = lock_live_case(case)
    require(actor, "case.take", on=case)  # the role and the organisation, whoever has it
    if case.assignee_id == actor.pk:
        return case  # a second click: theirs already
    if case.assignee_id is not None:
        raise ServiceError("already-taken")
    return assign_case(actor=actor, case=case, assignee=actor, origin=origin)


@transaction.atomic
def set_priority(*, actor: Membership, case: Case, priority: int, origin: str = "") -> None:
    case = lock_live_case(case)
    require(actor, "case.priority", case=case)
    previous = case.priority
    case.priority = priority
    case.save(update_fields=["priority", "updated_at"])
    _event(case, "case.priority_changed", actor, origin, {"from": previous, "to": priority})


@transaction.atomic
def add_note(*, actor: Membership, case: Case, body: str, shared: bool, origin: str = "") -> Note:
    case = lock_live_case(case)
    require(actor, "case.note", case=case)
    note = Note(case=case, author=actor, shared_with_family=shared)
    note.body = body
    note.save()
    _event(case, "note.added", actor, origin, {"shared": shared, "note": str(note.uuid)})
    return note


@transaction.atomic
def reply_to_family(*, actor: Membership, case: Case, body: str, origin: str = "") -> Message:
    """Write to the family; they are told only through the channel they chose, never
    with the content (a phone or mailbox may be seen by the wrong person)."""
    case = lock_live_case(case)
    require(actor, "case.reply", case=case)
    message = Message(case=case, from_family=False, author=actor)
    message.body = body
    message.save()
    case.messages.filter(from_family=True, read_at=None).update(read_at=timezone.now())
    _responded(case)
    case.save()
    _event(case, "message.to_family", actor, origin, {"message": str(message.uuid)})
    if case.contact_preference == ContactPreference.EMAIL and case.contact:
        outbox.enqueue("support.notify_family", case=case.uuid)
    return message


@transaction.atomic
def mark_messages_read(*, actor: Membership, case: Case) -> int:
    require(actor, "case.view", case=case)
    return case.messages.filter(from_family=True, read_at=None).update(read_at=timezone.now())


@transaction.atomic
def add_task(
    *, actor: Membership, case: Case, title: str, due: date | None, origin: str = ""
) -> Task:
    case = lock_live_case(case)
    require(actor, "case.task", case=case)
    task = Task(case=case, due=due)
    task.title = title
    task.save()
    _event(case, "task.added", actor, origin, {"task": str(task.uuid)})
    return task


@transaction.atomic
def complete_task(*, actor: Membership, task: Task, origin: str = "") -> None:
    require(actor, "case.task_done", case=lock_live_case(task.case))
    if task.done_at is None:
        task.done_at = timezone.now()
        task.save(update_fields=["done_at"])
        _event(task.case, "task.done", actor, origin, {"task": str(task.uuid)})


@transaction.atomic
def log_referral(
    *,
    actor: Membership,
    case: Case,
    to: str,
    on: date,
    reference: str = "",
    outcome: str = "",
    origin: str = "",
) -> Referral:
    case = lock_live_case(case)
    require(actor, "case.referral", case=case)
    referral = Referral(case=case, to=to, on=on, by=actor)
    referral.reference = reference
    referral.outcome = outcome
    referral.save()
    _event(case, "referral.logged", actor, origin, {"to": to, "referral": str(referral.uuid)})
    return referral


def _intake_code() -> str:
    for _ in range(10):
        code = "".join(secrets.choice(crypto.ACCESS_CODE_ALPHABET) for _ in range(8))
        if not Incident.objects.filter(intake_code=code).exists():
            return code
    raise RuntimeError("no free intake code")


@transaction.atomic
def create_incident(*, actor: Membership, title: str, origin: str = "") -> Incident:
    require(actor, "incident.create")
    incident = Incident(organisation=actor.organisation, intake_code=_intake_code())
    incident.title = title
    incident.save()
    events.record("incident.created", actor=actor, on=incident, origin=origin)
    return incident


@transaction.atomic
def set_case_incident(
    *, actor: Membership, case: Case, incident: Incident | None, origin: str = ""
) -> None:
    if incident is not None and incident.organisation_id != case.organisation_id:
        raise ServiceError("not-allowed")
    case = lock_live_case(case)
    require(actor, "case.incident", case=case)
    case.incident = incident
    case.save(update_fields=["incident", "updated_at"])
    _event(
        case,
        "case.incident_set",
        actor,
        origin,
        {"incident": str(incident.uuid) if incident else ""},
    )


# --- Retention ----------------------------------------------------------------------------


@transaction.atomic
def set_retention(*, actor: Membership, days: int, origin: str = "") -> None:
    require(actor, "retention.set")
    if not RETENTION_MIN_DAYS <= days <= RETENTION_MAX_DAYS:
        raise ServiceError("bad-retention")
    org = actor.organisation
    org.retention_days = days
    org.save(update_fields=["retention_days"])
    events.record(
        "organisation.retention_changed", actor=actor, on=org, origin=origin, data={"days": days}
    )


def _evidence_event(event: str, *, actor, case, context_file, reason: str, origin: str) -> None:
    # The reason is the point of the record: an empty or invented one is refused here,
    # whatever the form did, so no view can record a reveal nobody justified.
    if reason not in EvidenceReason.values:
        raise ServiceError("no-reason")
    if context_file.case_id != case.pk:
        raise ServiceError("not-allowed")
    _event(case, event, actor, origin, {"file": str(context_file.uuid), "reason": reason})


@transaction.atomic
def record_reveal(
    *, actor: Membership, case: Case, context_file, reason: str, origin: str = ""
) -> None:
    """A staff member chose to see a file unblurred: who, which file, and why."""
    require(actor, "file.reveal", case=case)
    _evidence_event(
        "evidence.revealed",
        actor=actor,
        case=case,
        context_file=context_file,
        reason=reason,
        origin=origin,
    )


@transaction.atomic
def record_download(
    *, actor: Membership, case: Case, context_file, reason: str, origin: str = ""
) -> None:
    """A coordinator takes the original out of the system: on the case's timeline,
    with the reason (the vault also writes its custody event on the blob)."""
    require(actor, "file.download", case=case)
    _evidence_event(
        "evidence.downloaded",
        actor=actor,
        case=case,
        context_file=context_file,
        reason=reason,
        origin=origin,
    )


@transaction.atomic
def set_legal_hold(*, actor: Membership, case: Case, hold: bool, origin: str = "") -> None:
    case = lock_live_case(case)
    require(actor, "case.hold", case=case)
    case.legal_hold = hold
    case.save(update_fields=["legal_hold", "updated_at"])
    _event(case, "case.legal_hold_set" if hold else "case.legal_hold_lifted", actor, origin)


def case_relations() -> list:
    """Every relation from another model to Case (hidden ones, like case links, too)."""
    return [
        f
        for f in Case._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]


def _dependents_first(relations: list) -> list:
    """Order the case's relations so a model goes before any case-related model it
    points at: a police referral protects the consent it rests on, an export its
    referral, and deleting the protected rows first would be refused."""
    models = {relation.related_model for relation in relations}
    points_at = {
        model: {
            field.related_model
            for field in model._meta.concrete_fields
            if field.is_relation
            and field.related_model in models
            and field.related_model is not model
        }
        for model in models
    }
    ordered, placed = [], set()
    while len(ordered) < len(relations):
        # A model is ready when every model that points at it has already gone.
        ready = [
            relation
            for relation in relations
            if relation not in ordered
            and all(
                other in placed
                for other, targets in points_at.items()
                if relation.related_model in targets
            )
        ]
        if not ready:  # a cycle: fall back to the declared order for the rest
            ready = [relation for relation in relations if relation not in ordered]
        for relation in ready:
            ordered.append(relation)
        placed.update(relation.related_model for relation in ready)
    return ordered


def _shred_files(*, case: Case, rows) -> None:
    for context_file in rows.select_related("blob"):
        vault_services.destroy_blob(
            context_file.blob,
            actor=audit.Actor.system("case-destruction"),
            organisation_id=case.organisation.uuid,
        )
    rows.delete()


def _delete_rows(*, case: Case, rows) -> None:
    rows.delete()


# Support's own rows that need more than a delete; apps above register theirs
# through extensions.register_case_destroyer.
_OWN_DESTROYERS = {ContextFile: _shred_files}


def destroy_case_content(case: Case) -> None:
    """Crypto-shred a case: every related row, encrypted value and file goes; the row
    stays as a tombstone (reference, organisation, dates) so the audit chain still
    points at it.

    What goes is derived from Case's relations, not listed by hand: a model added
    later (labels, takedown notices, police referrals) is destroyed too, by its
    registered destroyer or by deleting its rows.
    """
    for relation in _dependents_first(case_relations()):
        model = relation.related_model
        rows = model._base_manager.filter(**{relation.field.name: case})
        destroyer = _OWN_DESTROYERS.get(model) or extensions.case_destroyer(model) or _delete_rows
        destroyer(case=case, rows=rows)
    for attribute in vars(Case).values():
        if isinstance(attribute, EncryptedText):
            setattr(case, attribute.column, "")
    case.access_code_hash = ""
    case.categories = []
    case.destroyed_at = timezone.now()
    case.save()
    # The case's field key goes too (vault.fields): whatever copy of a value of this
    # case survives — an old backup's rows — needs it, and once the KEK that wrapped
    # it in that backup is retired, it exists nowhere.
    Case._base_manager.filter(pk=case.pk).update(field_key_wrapped=None, field_kek_version=None)
    case.field_key_wrapped = case.field_kek_version = None
    forget_field_key(case)


@transaction.atomic
def decide_erasure(*, actor: Membership, case: Case, approve: bool, origin: str = "") -> None:
    case = lock_live_case(case)
    require(actor, "case.erasure", case=case)
    if case.erasure_requested_at is None:
        raise ServiceError("no-request")
    if approve and case.legal_hold:
        raise ServiceError("legal-hold")
    _event(case, "case.erasure_approved" if approve else "case.erasure_refused", actor, origin)
    if approve:
        destroy_case_content(case)
        _event(case, "case.destroyed", actor, origin, {"reason": "erasure"})
    else:
        case.erasure_requested_at = None
        case.save(update_fields=["erasure_requested_at", "updated_at"])


def expiring_cases(now=None):
    """Closed, not on hold, past their organisation's retention period."""
    from django.db.models import DateTimeField, ExpressionWrapper, F

    now = now or timezone.now()
    expires = ExpressionWrapper(
        F("closed_at") + F("organisation__retention_days") * timedelta(days=1),
        output_field=DateTimeField(),
    )
    return Case.objects.filter(
        status=S.CLOSED, legal_hold=False, destroyed_at=None, closed_at__isnull=False
    ).annotate(expires_at=expires)


DRAFT_LIFETIME = timedelta(days=7)


def purge_abandoned_drafts(now=None) -> int:
    """Reports started and never sent: after a week their answers and files go."""
    from .models import ReportDraft

    now = now or timezone.now()
    purged = 0
    for draft in ReportDraft.objects.filter(updated_at__lt=now - DRAFT_LIFETIME):
        with transaction.atomic():
            for context_file in draft.files.select_related("blob"):
                vault_services.destroy_blob(
                    context_file.blob, actor=audit.Actor.system("draft-expiry")
                )
                context_file.delete()
            draft.delete()
            purged += 1
    return purged


def run_retention(now=None) -> dict:
    """Daily: warn coordinators 30 days ahead, destroy what has expired, drop old drafts."""
    now = now or timezone.now()
    drafts = purge_abandoned_drafts(now)
    destroyed = 0
    for case in expiring_cases(now).filter(expires_at__lte=now):
        with transaction.atomic():
            case = _lock(case)
            if case.legal_hold or case.destroyed_at:
                continue
            destroy_case_content(case)
            events.record(
                "case.destroyed",
                actor=audit.Actor.system("retention"),
                on=case,
                data={"reason": "retention"},
            )
            destroyed += 1
    warned = 0
    for case in expiring_cases(now).filter(
        expires_at__lte=now + timedelta(days=30), retention_warned_at=None
    ):
        with transaction.atomic():
            Case.objects.filter(pk=case.pk).update(retention_warned_at=now)
            outbox.enqueue("support.warn_retention", case=case.uuid)
            warned += 1
    return {"destroyed": destroyed, "warned": warned, "drafts": drafts}


MAX_LABELS = 10


def label_index(text: str) -> str:
    from vault.fields import blind_index

    from .models import label_index_source

    value, domain = label_index_source(text)
    return blind_index(value, domain=domain)


def label_indexes(text: str) -> list[str]:
    """Every index a stored label with this text may carry (one per KEK version in the
    ring): for lookups, so a filter keeps finding labels while a rotation runs."""
    from vault.fields import blind_indexes

    from .models import label_index_source

    value, domain = label_index_source(text)
    return blind_indexes(value, domain=domain)


@transaction.atomic
def set_labels(*, actor: Membership, case: Case, labels: list[str], origin: str = "") -> None:
    """Replace the case's labels (each trimmed, at most 40 characters, at most ten)."""
    case = lock_live_case(case)
    require(actor, "case.labels", case=case)
    from .models import CaseLabel

    clean = []
    for text in labels:
        text = " ".join(text.split())[:40]
        if text and label_index(text) not in {label_index(c) for c in clean}:
            clean.append(text)
    if len(clean) > MAX_LABELS:
        raise ServiceError("too-many-labels")
    case.labels.all().delete()
    for text in clean:
        label = CaseLabel(case=case)
        label.value = text
        label.set_index()
        label.save()
    _event(case, "case.labels_changed", actor, origin, {"count": len(clean)})
