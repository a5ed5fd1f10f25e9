"""The notice builder: from a case, some of its locations and one route, a complete notice.

Three checks stand between a case and a platform:

- the **completeness validator** refuses a notice missing any element its legal
  basis requires (LEGAL.md) or its form insists on, and names each one in words a
  caseworker understands ("the parent's electronic signature"), not field codes;
- the **over-disclosure guard**: a notice about a minor carries no family personal
  data beyond what its basis requires. DSA notices about child sexual abuse material
  leave the notifier's name and email out (art. 16(2)(c)); a form that demands more
  than the law (Telegram's name, Discord's legal name) is flagged and the hotline or
  a partner route offered; the rendered text is scanned for the family's details;
- the family's takedown **consent**: without it nothing is prepared or sent.

Pure reading here; takedowns.services saves the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.template import Context, Engine
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from support.intake import current_consents
from support.models import AgeBand, Case, Consent, FilerRole, Location

from .models import Basis, CaseTakedownFacts, NoticeTemplate, Route, TakedownSettings

# Plain text, never HTML-escaped (a URL's "&" must stay "&").
_ENGINE = Engine(autoescape=False)

# What each element is called on screen, in a caseworker's words.
ELEMENT_LABELS = {
    "urls": gettext_lazy("the exact web addresses of the content"),
    "explanation": gettext_lazy("an explanation of why the content is illegal"),
    "good_faith": gettext_lazy("the good-faith statement"),
    "notifier_name": gettext_lazy("the notifier's name (your group's name)"),
    "notifier_email": gettext_lazy("the notifier's email (your group's case inbox)"),
    "signature": gettext_lazy("the parent's electronic signature"),
    "identification": gettext_lazy("a description that identifies the image"),
    "non_consent": gettext_lazy("the statement that the image is not consensual"),
    "contact": gettext_lazy("your group's case inbox, for the platform's reply"),
    "relationship": gettext_lazy("who is asking, and for whom"),
    "circumstances": gettext_lazy("a description of what happened"),
    "means_of_spread": gettext_lazy("how the images are being spread"),
    "prior_actions": gettext_lazy("whether police or court action has been taken"),
    "vulnerabilities": gettext_lazy("the vulnerability of the person shown"),
    "platform_attempts": gettext_lazy("the requests already made to the platforms"),
    "depicted_name": gettext_lazy("the legal name of the person shown"),
    "country": gettext_lazy("the country"),
}

# The elements each basis requires by law (LEGAL.md). The DSA's notifier identity is
# added by `required_elements` unless the CSAM exemption applies.
BASIS_ELEMENTS: dict[str, tuple[str, ...]] = {
    Basis.DSA: ("urls", "explanation", "good_faith"),
    Basis.TAKE_IT_DOWN: ("signature", "identification", "urls", "non_consent", "contact"),
    Basis.AEPD: (
        "urls",
        "circumstances",
        "means_of_spread",
        "prior_actions",
        "vulnerabilities",
        "contact",
    ),
    Basis.GDPR_ERASURE: ("urls", "relationship", "explanation", "contact"),
    Basis.SEARCH_DELISTING: ("urls", "relationship", "explanation", "contact"),
    Basis.POLICY: ("urls", "explanation"),
    Basis.HOTLINE: ("urls", "explanation"),
}
# Family personal data, and the bases that need each (anything else is over-disclosure).
FAMILY_DATA_ALLOWED = {
    "signature": {Basis.TAKE_IT_DOWN},
    "depicted_name": set(),
}
# Where a route's extra demands send a minor's case instead.
SAFER_KINDS = ("hotline", "partner", "regulator")


def is_minor(case: Case) -> bool:
    return case.age_band != AgeBand.ADULT


def csam_exemption(case: Case, basis: str) -> bool:
    """DSA art. 16(2)(c): a sexual image of a minor (fake or not) is an offence under
    arts. 3-7 of Directive 2011/93/EU, so the notifier may stay unnamed."""
    return basis == Basis.DSA and is_minor(case)


def required_elements(case: Case, route: Route) -> list[str]:
    needed = list(BASIS_ELEMENTS[route.basis])
    if route.basis == Basis.DSA and not csam_exemption(case, route.basis):
        needed += ["notifier_name", "notifier_email"]
    # What the form itself insists on, except demands beyond the law on a minor's case:
    # those are the guard's business, not a reason to fill them in.
    withheld = set(route.extra_demands) if is_minor(case) else set()
    for element in route.required_elements:
        if element not in needed and element not in withheld and element in ELEMENT_LABELS:
            needed.append(element)
    return needed


def has_takedown_consent(case: Case) -> bool:
    consent = current_consents(case).get(Consent.Kind.TAKEDOWN)
    return bool(consent and consent.given)


def jurisdictions(case: Case, facts: CaseTakedownFacts | None, settings) -> list[str]:
    if facts is not None and facts.jurisdictions:
        return [j.upper() for j in facts.jurisdictions]
    if settings is not None and settings.default_jurisdictions:
        return [j.upper() for j in settings.default_jurisdictions]
    return ["ES"]


def notice_language(route: Route, places: list[str]) -> str:
    """Spanish where the route reads it and the family is in Spain; otherwise English."""
    languages = route.languages or ["en"]
    if "es" in languages and ("ES" in places or "en" not in languages):
        return "es"
    return "en"


@dataclass
class Draft:
    """A rendered notice, before it is saved."""

    route: Route
    language: str
    template: NoticeTemplate | None
    elements: dict[str, str]
    subject: str = ""
    body: str = ""
    missing: list[str] = field(default_factory=list)  # element codes
    guard_flags: list[str] = field(default_factory=list)  # codes, see GUARD_MESSAGES
    identity_withheld: bool = False
    refused: str = ""  # a code, see REFUSALS

    @property
    def missing_labels(self) -> list[str]:
        return [str(ELEMENT_LABELS[code]) for code in self.missing]

    @property
    def ok(self) -> bool:
        return (
            not self.refused
            and not self.missing
            and "family_data_in_text" not in (self.guard_flags)
        )


REFUSALS = {
    "no-consent": gettext_lazy(
        "The family has not agreed to removal requests on their behalf: nothing can be sent."
    ),
    "not-eligible": gettext_lazy(
        "This route is only for people in %(places)s; this family is not. Use the DSA or "
        "the platform's policy route instead."
    ),
    "no-template": gettext_lazy("There is no notice template for this legal basis."),
    "one-item": gettext_lazy("This platform takes one item per report: prepare one each."),
    "no-locations": gettext_lazy("Choose at least one web address."),
}
GUARD_MESSAGES = {
    "extra_demands": gettext_lazy(
        "This form asks for more than the law requires (%(what)s). We leave it out: a "
        "notice about a minor needs no family details. If the platform insists, use the "
        "hotline or a partner route instead."
    ),
    "family_data_in_text": gettext_lazy(
        "The notice text contains the family's personal details. Remove them before sending."
    ),
}


def _age_phrase(case: Case) -> str:
    return {
        AgeBand.UNDER_12: _("under 12"),
        AgeBand.AGE_12_13: _("12 or 13"),
        AgeBand.AGE_14_15: _("14 or 15"),
        AgeBand.AGE_16_17: _("16 or 17"),
        AgeBand.ADULT: _("18 or older"),
    }[case.age_band]


def _relationship(case: Case, organisation_name: str) -> str:
    if case.filer_role == FilerRole.PARENT:
        who = _("The request is made by the parent or guardian of the person shown")
    elif case.filer_role == FilerRole.YOUNG_PERSON:
        who = _("The request is made with the person shown")
    else:
        who = _("The request is made by a trusted adult of the person shown")
    return _("%(who)s, through %(group)s, the support group acting on their behalf.") % {
        "who": who,
        "group": organisation_name,
    }


def _render(text: str, values: dict) -> str:
    return _ENGINE.from_string(text).render(Context(values)).strip()


def _attempts_text(case: Case, route: Route, attempts: list) -> str:
    lines = [
        _("%(platform)s, %(date)s") % {"platform": n.platform.name, "date": _date(n.sent_at)}
        for n in attempts
        if n.sent_at and n.platform_id != route.platform_id
    ]
    return "\n".join(lines) or _("None yet.")


def _date(value) -> str:
    return formats.date_format(timezone.localtime(value), "DATE_FORMAT") if value else ""


VULNERABILITY_ORDER = [choice for choice, _label in CaseTakedownFacts.Vulnerability.choices]


def build(
    *,
    case: Case,
    locations: list[Location],
    route: Route,
    facts: CaseTakedownFacts | None,
    settings: TakedownSettings | None,
    template: NoticeTemplate | None,
    attempts: list,
    reference: str,
    language: str | None = None,
    consent: bool | None = None,
) -> Draft:
    """Render and check one notice. `attempts` are the case's notices already sent
    (for the AEPD packet); `template` the current one for (basis, language)."""
    places = jurisdictions(case, facts, settings)
    language = language or notice_language(route, places)
    draft = Draft(route=route, language=language, template=template, elements={})
    if not (has_takedown_consent(case) if consent is None else consent):
        draft.refused = "no-consent"
        return draft
    if not route.accepts(places):
        draft.refused = "not-eligible"
        return draft
    if not locations:
        draft.refused = "no-locations"
        return draft
    if route.one_item_per_report and len(locations) > 1:
        draft.refused = "one-item"
        return draft
    if template is None:
        draft.refused = "no-template"
        return draft

    minor = is_minor(case)
    draft.identity_withheld = csam_exemption(case, route.basis)
    inbox = settings.inbox_email if settings else ""
    group = (settings.notifier_name if settings else "") or case.organisation.name
    with translation.override(language):
        host = urlsplit(locations[0].value).hostname or ""
        generic = route.platform.kind == "website"
        values = {
            # A generic website's notice goes to that site's host, so it names the site.
            "platform": host if generic and host else route.platform.name,
            "organisation": group,
            "reference": reference,
            "date": _date(timezone.now()),
            "age": _age_phrase(case),
            "person": _("a minor aged %(age)s") % {"age": _age_phrase(case)}
            if minor
            else _("the person shown"),
        }
        statements = {k: _render(v, values) for k, v in template.statements.items()}
        explanation = statements.get("explanation_minor" if minor else "explanation_adult", "")
        elements = {
            "urls": "\n".join(location.value for location in locations),
            "explanation": explanation,
            "good_faith": statements.get("good_faith", ""),
            "contact": inbox,
            "relationship": _relationship(case, group),
            "country": ", ".join(places),
        }
        if route.basis == Basis.DSA:
            if draft.identity_withheld:
                elements["identity_withheld"] = statements.get("identity_withheld", "")
            else:
                elements["notifier_name"], elements["notifier_email"] = group, inbox
        if route.basis == Basis.TAKE_IT_DOWN:
            elements["signature"] = facts.signature if facts else ""
            elements["non_consent"] = statements.get("non_consent", "")
            elements["identification"] = _(
                "A fabricated sexual image of %(person)s, at each address below."
            ) % {"person": values["person"]}
        if route.basis == Basis.AEPD:
            elements["circumstances"] = facts.circumstances if facts else ""
            elements["means_of_spread"] = facts.means_of_spread if facts else ""
            if facts and facts.prior_actions_answered:
                elements["prior_actions"] = facts.prior_actions or _("None so far.")
            flags = set(facts.vulnerabilities if facts else [])
            if minor:
                flags.add(CaseTakedownFacts.Vulnerability.MINOR)
            labels = dict(CaseTakedownFacts.Vulnerability.choices)
            elements["vulnerabilities"] = "\n".join(
                str(labels[code]) for code in VULNERABILITY_ORDER if code in flags
            )
            elements["platform_attempts"] = _attempts_text(case, route, attempts)
        draft.elements = {k: v for k, v in elements.items() if v}
        draft.subject = _render(template.subject, {**values, **draft.elements})
        draft.body = _render(template.body, {**values, **statements, **draft.elements})

    draft.missing = [e for e in required_elements(case, route) if not draft.elements.get(e)]
    _guard(draft, case=case, facts=facts, minor=minor)
    return draft


def _guard(draft: Draft, *, case: Case, facts: CaseTakedownFacts | None, minor: bool) -> None:
    """Flag demands beyond the law; refuse text that carries the family's details."""
    extra = [e for e in draft.route.extra_demands if e in ELEMENT_LABELS]
    if minor and extra:
        draft.guard_flags.append("extra_demands")
    family = [case.contact]
    if facts is not None and draft.route.basis not in FAMILY_DATA_ALLOWED["signature"]:
        family.append(facts.signature)
    text = f"{draft.subject}\n{draft.body}".casefold()
    if any(value and value.strip().casefold() in text for value in family):
        draft.guard_flags.append("family_data_in_text")


def guard_message(draft: Draft, code: str) -> str:
    if code == "extra_demands":
        what = ", ".join(str(ELEMENT_LABELS[e]) for e in draft.route.extra_demands)
        return str(GUARD_MESSAGES[code]) % {"what": what}
    return str(GUARD_MESSAGES[code])


def refusal_message(draft: Draft) -> str:
    message = str(REFUSALS[draft.refused])
    if draft.refused == "not-eligible":
        return message % {"places": ", ".join(draft.route.eligible_jurisdictions)}
    return message


def guard_message_for(notice, code: str) -> str:
    """The guard's message for a saved notice (its route's extra demands)."""
    if code == "extra_demands":
        what = ", ".join(str(ELEMENT_LABELS[e]) for e in notice.route.extra_demands)
        return str(GUARD_MESSAGES[code]) % {"what": what}
    return str(GUARD_MESSAGES.get(code, ""))
