""" "Prepare all": a draft for every location by its suggested routes, plus the AEPD
packet, made in one transaction with a bounded number of queries.

The equivalence test holds the batch to what the one-notice-at-a-time path makes
(`prepare_notice` for each location and route, the loop "prepare all" ran before it
was batched, kept below as the reference): the same notices, items, logs, audit
events and refusals, for a case with several kinds of locations.
"""

from __future__ import annotations

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from takedowns import builder, services
from takedowns.models import Basis, Notice, NoticeEvent, NoticeItem
from takedowns.models import NoticeState as N
from takedowns.registry import suggest, visible_routes
from tests.takedowns.helpers import location_on, make_case, route
from vault.audit import verify_chain
from vault.models import AuditEvent

pytestmark = pytest.mark.django_db

ORIGIN = "192.0.2.0/24"
# Several kinds of locations: web forms (Instagram: DSA and TAKE IT DOWN; Telegram: a
# form that demands more than the law), an in-app report (WhatsApp), a GDPR form
# (YouTube), a one-item-per-report platform (Discord), a generic website whose route
# has no address (refused: no recipient), and a Telegram post already sent less than
# 72 hours ago (refused: a repeat).
URLS = [
    "https://www.instagram.com/p/EQUIVfalsa1/",
    "https://t.me/equiv_canal/7",
    "https://t.me/equiv_canal/8",
    "https://chat.whatsapp.com/EquivGrupo",
    "https://www.youtube.com/watch?v=equiv",
    "https://discord.com/channels/1/2/3",
    "https://fotos-equiv.example/galeria/9",
]
ALREADY_SENT = "https://t.me/equiv_canal/8"
FACTS = {
    "signature": "/s/ Ana Pérez Gómez",
    "circumstances": "Compañeros de clase crearon la imagen con una aplicación.",
    "means_of_spread": "Un canal de Telegram y una cuenta de Instagram.",
    "prior_actions_answered": True,
    "prior_actions": "Denuncia ante la Policía Nacional el 20 de septiembre.",
    "vulnerabilities": ["harassment"],
}


@pytest.fixture(autouse=True)
def _english_staff():
    with translation.override("en"):
        yield


def prepare_all_one_by_one(*, acting, case, origin=""):
    """The reference: "prepare all" as it was, each notice through `prepare_notice`
    in its own savepoint (with its own writes and audit event)."""
    ctx = services.preparation_context(case)
    if not ctx["consent"]:
        raise services.NoticeRefused("no-consent", [str(builder.REFUSALS["no-consent"])])
    locations = list(case.locations.order_by("created_at", "id"))
    suggestions = suggest(locations, list(visible_routes(case.organisation)), ctx["places"])
    covered = set(
        NoticeItem.objects.filter(notice__case=case)
        .exclude(notice__state=N.WITHDRAWN)
        .values_list("location_id", "notice__route_id")
    )
    made, problems = 0, []
    with transaction.atomic():
        for location in locations:
            for suggestion in suggestions[location.uuid]:
                if not suggestion.eligible or (location.pk, suggestion.route.pk) in covered:
                    continue
                try:
                    with transaction.atomic():
                        services.prepare_notice(
                            acting=acting,
                            case=case,
                            route=suggestion.route,
                            locations=[location],
                            origin=origin,
                            ctx=ctx,
                        )
                    made += 1
                except services.NoticeRefused as refused:
                    problems.append((location, suggestion.route, refused.messages))
        for suggestion in suggestions[None]:
            aepd = suggestion.route
            if aepd.basis != Basis.AEPD or not suggestion.eligible or not locations:
                continue
            if any(route_id == aepd.pk for _location_id, route_id in covered):
                continue
            try:
                with transaction.atomic():
                    services.prepare_notice(
                        acting=acting,
                        case=case,
                        route=aepd,
                        locations=locations,
                        origin=origin,
                        ctx=ctx,
                    )
                made += 1
            except services.NoticeRefused as refused:
                problems.append((None, aepd, refused.messages))
            break
    return {"made": made, "problems": problems}


def equivalence_case(org_x, coordinator):
    """A case with URLS, its facts, a draft already covering Instagram's DSA route and
    a withdrawn one that covers nothing."""
    case = make_case(org_x, urls=URLS)
    case.assignee = coordinator
    case.save(update_fields=["assignee"])
    services.save_case_facts(acting=coordinator, case=case, data=FACTS)
    instagram = location_on(case, "instagram.com")
    services.prepare_notice(
        acting=coordinator, case=case, route=route("instagram", "dsa"), locations=[instagram]
    )
    withdrawn = services.prepare_notice(
        acting=coordinator,
        case=case,
        route=route("youtube", "gdpr_erasure"),
        locations=[location_on(case, "youtube.com")],
    )
    services.change_state(acting=coordinator, notice=withdrawn, state=N.WITHDRAWN)
    return case


def send_once(org_x, coordinator, url):
    """Another case of the group sent a Telegram DSA notice about `url` just now."""
    other = make_case(org_x, urls=[url])
    notice = services.prepare_notice(
        acting=coordinator,
        case=other,
        route=route("telegram", "dsa"),
        locations=list(other.locations.all()),
    )
    services.record_submission(acting=coordinator, notice=notice, ticket="TG-1")


def snapshot(case, since_audit_id: int, since_notice_id: int):
    """What a run made for `case`, with what differs between two twin cases (ids,
    references, the case's uuid) taken out."""
    notices = list(
        Notice.objects.filter(case=case, pk__gt=since_notice_id)
        .select_related("platform")
        .order_by("created_at", "id")
    )
    position = {n.uuid: i for i, n in enumerate(notices)}

    def plain(text, notice):
        return text.replace(services.reference_of(notice.uuid), "<REF>")

    made = []
    for notice in notices:
        items = NoticeItem.objects.filter(notice=notice).order_by("id")
        events = NoticeEvent.objects.filter(notice=notice).order_by("id")
        made.append(
            {
                "platform": notice.platform.slug,
                "route": notice.route_id,
                "route_version": notice.route_version,
                "basis": notice.basis,
                "channel": notice.channel,
                "language": notice.language,
                "recipient": notice.recipient,
                "template": (notice.template_id, notice.template_version),
                "state": notice.state,
                "identity_withheld": notice.identity_withheld,
                "guard_flags": notice.guard_flags,
                "prepared_by": notice.prepared_by_id,
                "repeat_of": notice.repeat_of_id,
                "new_fact": notice.new_fact,
                "subject": plain(notice.subject, notice),
                "body": plain(notice.body, notice),
                "elements": {k: plain(v, notice) for k, v in notice.elements.items()},
                "has_delivery_key": len(notice.delivery_key) == 32,
                "stamps": [notice.queued_at, notice.sent_at, notice.deadline_at],
                "created": bool(notice.created_at and notice.updated_at),
                "items": [(i.location.value, i.url_index, i.platform_id, i.basis) for i in items],
                "log": [
                    (e.kind, e.from_state, e.to_state, e.actor_id, e.data, e.text) for e in events
                ],
            }
        )
    audited = [
        {
            "event": e.event,
            "actor": (e.actor_kind, e.actor_ref, e.actor_role, e.origin),
            "object": (e.object_type, position.get(e.object_id, e.object_id)),
            "organisation": e.organisation_id,
            "data": {**e.data, "case": "<CASE>" if e.data.get("case") == str(case.uuid) else "?"},
        }
        for e in AuditEvent.objects.filter(pk__gt=since_audit_id).order_by("id")
    ]
    return made, audited


def marks():
    last_audit = AuditEvent.objects.order_by("-id").first()
    last_notice = Notice.objects.order_by("-id").first()
    return (last_audit.pk if last_audit else 0, last_notice.pk if last_notice else 0)


def problems_of(result):
    return [
        (location.value if location else None, problem_route.pk, messages)
        for location, problem_route, messages in result["problems"]
    ]


def test_prepare_all_makes_what_the_one_by_one_path_made(org_x, coordinator, group_settings):
    send_once(org_x, coordinator, ALREADY_SENT)
    batched_case = equivalence_case(org_x, coordinator)
    reference_case = equivalence_case(org_x, coordinator)

    before = marks()
    result = services.prepare_all(acting=coordinator, case=batched_case, origin=ORIGIN)
    batched = snapshot(batched_case, *before)
    before = marks()
    expected = prepare_all_one_by_one(acting=coordinator, case=reference_case, origin=ORIGIN)
    reference = snapshot(reference_case, *before)

    assert batched == reference
    assert result["made"] == expected["made"] == len(batched[0])
    assert problems_of(result) == problems_of(expected)
    assert verify_chain().ok

    # And what that is, so the comparison is not between two empty runs.
    made, audited = batched
    kinds = [(n["platform"], n["basis"]) for n in made]
    assert ("instagram", "dsa") not in kinds  # already covered by a draft
    assert ("instagram", "take_it_down") in kinds
    assert ("telegram", "dsa") in kinds and ("whatsapp", "policy") in kinds
    assert ("youtube", "gdpr_erasure") in kinds  # its only notice was withdrawn
    assert ("discord", "dsa") in kinds
    assert kinds[-1][1] == "aepd" and len(made[-1]["items"]) == len(URLS)
    assert all(n["state"] == N.DRAFT and n["log"] for n in made)
    telegram = next(n for n in made if n["platform"] == "telegram")
    assert telegram["items"][0][0] == "https://t.me/equiv_canal/7"
    assert "extra_demands" in telegram["guard_flags"]
    assert [a["event"] for a in audited] == ["notice.prepared"] * len(made)
    assert [a["object"][1] for a in audited] == list(range(len(made)))
    assert audited[0]["actor"][3] == ORIGIN
    assert audited[0]["data"]["items"] == 1 and audited[-1]["data"]["items"] == len(URLS)
    problems = problems_of(result)
    refused = {value for value, _route, _messages in problems}
    assert ALREADY_SENT in refused  # the 72-hour repeat
    assert "https://fotos-equiv.example/galeria/9" in refused  # no recipient
    assert any("72 hours" in m for _v, _r, messages in problems for m in messages)


def bench_like_case(org_x, coordinator, count: int):
    hosts = ["https://www.instagram.com/p/q{}/", "https://t.me/q_canal/{}"]
    hosts += ["https://fotos-q.example/galeria/{}"]
    case = make_case(org_x, urls=[hosts[i % 3].format(i) for i in range(count)])
    case.assignee = coordinator
    case.save(update_fields=["assignee"])
    services.save_case_facts(acting=coordinator, case=case, data=FACTS)
    return case.__class__.objects.select_related("organisation").get(pk=case.pk)


def queries_of_prepare_all(org_x, coordinator, count: int) -> tuple[int, int]:
    case = bench_like_case(org_x, coordinator, count)
    with CaptureQueriesContext(connection) as captured:
        result = services.prepare_all(acting=coordinator, case=case)
    assert result["made"] == Notice.objects.filter(case=case).count() > count
    return len(captured.captured_queries), result["made"]


def test_prepare_all_makes_as_many_queries_at_50_locations_as_at_5(
    org_x, coordinator, group_settings
):
    at_5, made_5 = queries_of_prepare_all(org_x, coordinator, 5)
    at_50, made_50 = queries_of_prepare_all(org_x, coordinator, 50)
    assert made_50 > 5 * made_5  # ten times the locations, many times the notices
    assert at_50 == at_5
    assert at_50 <= 25


def test_prepare_all_twice_makes_no_second_notice(case, facts, coordinator):
    first = services.prepare_all(acting=coordinator, case=case)
    made = list(Notice.objects.filter(case=case).values_list("pk", flat=True))
    audited = AuditEvent.objects.count()
    second = services.prepare_all(acting=coordinator, case=case)
    assert first["made"] == len(made) > 0
    assert second["made"] == 0
    assert list(Notice.objects.filter(case=case).values_list("pk", flat=True)) == made
    assert AuditEvent.objects.count() == audited


def test_a_failure_checking_one_notice_leaves_nothing_prepared(
    case, facts, coordinator, monkeypatch
):
    """A check that breaks (not a refusal: an error) on the third notice: the two
    before it are not left behind, nor their items, logs or audit events."""
    build, calls = builder.build, []

    def breaks_on_the_third(**kwargs):
        calls.append(kwargs["route"])
        if len(calls) == 3:
            raise ValueError("a check failed")
        return build(**kwargs)

    monkeypatch.setattr(builder, "build", breaks_on_the_third)
    audited = AuditEvent.objects.count()
    with pytest.raises(ValueError, match="a check failed"):
        services.prepare_all(acting=coordinator, case=case)
    assert len(calls) == 3
    assert not Notice.objects.filter(case=case).exists()
    assert not NoticeItem.objects.filter(location__case=case).exists()
    assert not NoticeEvent.objects.filter(notice__case=case).exists()
    assert AuditEvent.objects.count() == audited


def test_a_failure_writing_the_audit_events_leaves_nothing_prepared(
    case, facts, coordinator, monkeypatch
):
    """The notices are inserted before their audit events: if appending those fails,
    the notices go too (there is no notice without its event)."""
    from vault import audit

    def fails(entries, *, actor):
        assert entries  # the notices were inserted by now
        assert Notice.objects.filter(case=case).exists()
        raise RuntimeError("audit log unavailable")

    monkeypatch.setattr(audit, "record_many", fails)
    audited = AuditEvent.objects.count()
    with pytest.raises(RuntimeError, match="audit log unavailable"):
        services.prepare_all(acting=coordinator, case=case)
    assert not Notice.objects.filter(case=case).exists()
    assert not NoticeItem.objects.filter(location__case=case).exists()
    assert AuditEvent.objects.count() == audited


def prepare_all_page(case, coordinator):
    from django.urls import reverse

    from tests.factories import client_for

    url = reverse(
        "support:takedowns_case:prepare-all",
        kwargs={"org": case.organisation.uuid, "case": case.uuid},
    )
    response = client_for(coordinator).post(url, follow=True, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 200
    return [str(m) for m in response.context["messages"]]


def test_without_the_familys_consent_the_page_says_so_in_spanish_and_makes_nothing(
    org_x, coordinator, group_settings
):
    case = make_case(org_x, takedown=False)
    case.assignee = coordinator
    case.save(update_fields=["assignee"])
    audited = AuditEvent.objects.count()
    shown = prepare_all_page(case, coordinator)
    assert shown == [
        "La familia no ha dado su consentimiento para que se pidan retiradas en su nombre: "
        "no se puede enviar nada."
    ]
    assert not Notice.objects.filter(case=case).exists()
    assert AuditEvent.objects.count() == audited


def test_the_page_reports_what_was_made_and_each_refusal_in_spanish(case, facts, coordinator):
    shown = prepare_all_page(case, coordinator)
    made = Notice.objects.filter(case=case).count()
    assert made > 0
    assert shown[0] == f"{made} solicitudes preparadas para revisión."
    # The website's route has no address of its own: refused, and said in Spanish.
    assert any(
        m.endswith(": Indica la dirección a la que se debe enviar la solicitud.") for m in shown[1:]
    ), shown
