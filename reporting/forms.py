"""The report wizard's questions, one form per step.

Each form turns its cleaned data into plain answers (`answers()`), which the
draft keeps encrypted; `submission()` turns the checked answers into the typed
`support.intake.Submission` that `submit_report` makes a case of.
Validation errors are short, specific and translated; nothing is stored until
the family sends the report from the "check your answers" page.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.utils.translation import gettext_lazy as _

from support.intake import EvidenceFingerprint, Handle, Submission
from support.models import AgeBand, ContactPreference, FilerRole
from vault import fingerprints, normalize

MAX_LINES = 20
MAX_LINE = 500

PLATFORM_CHOICES = [
    ("whatsapp", "WhatsApp"),
    ("telegram", "Telegram"),
    ("instagram", "Instagram"),
    ("tiktok", "TikTok"),
    ("snapchat", "Snapchat"),
    ("x", "X (Twitter)"),
    ("discord", "Discord"),
    ("youtube", "YouTube"),
    ("reddit", "Reddit"),
    ("facebook", "Facebook"),
    ("web", _("A website")),
    ("other", _("Somewhere else")),
]
HANDLE_PLATFORMS = [c for c in PLATFORM_CHOICES if c[0] not in {"web", "other", "whatsapp"}]

WHAT_HAPPENED = [
    ("fake_images", _("Someone made fake nude or sexual images")),
    ("sextortion", _("Someone is asking for money or more images, or threatening")),
    ("shared_group", _("Images are being shared in a group or channel")),
    ("impersonation", _("Someone is pretending to be my child or me")),
    ("other", _("Something else")),
]


def _lines(text: str) -> list[str]:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    if len(lines) > MAX_LINES:
        raise forms.ValidationError(
            _("Please give at most %(n)s, one per line."), params={"n": MAX_LINES}
        )
    for line in lines:
        if len(line) > MAX_LINE:
            raise forms.ValidationError(_("One of the lines is too long."))
    return lines


def _each(lines: list[str], normaliser, message) -> list[str]:
    """Normalise every line; one error naming the lines that could not be read."""
    out, bad = [], []
    for number, line in enumerate(lines, start=1):
        try:
            value = normaliser(line)
        except ValueError:
            bad.append(str(number))
        else:
            if value not in out:
                out.append(value)
    if bad:
        raise forms.ValidationError(message, params={"lines": ", ".join(bad)})
    return out


def _links(text: str) -> list[str]:
    """One web address per line, each normalised (vault.normalize.normalise_url)."""
    return _each(
        _lines(text),
        normalize.normalise_url,
        _("We could not read the link on line %(lines)s. Copy it again, complete."),
    )


class StepForm(forms.Form):
    """A wizard step: `answers()` gives what the draft keeps."""

    def answers(self) -> dict:
        return dict(self.cleaned_data)


class WhoForm(StepForm):
    filer_role = forms.ChoiceField(
        label=_("Who is filling in this report?"),
        choices=FilerRole.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Tell us who is filling in the report.")},
    )
    age_band = forms.ChoiceField(
        label=_("How old is the young person the images are about?"),
        choices=AgeBand.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose an age.")},
    )
    contact_preference = forms.ChoiceField(
        label=_("How may the support group contact you?"),
        choices=ContactPreference.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose how we may contact you.")},
    )
    contact = forms.CharField(
        label=_("Your email address or phone number (only if you chose email or phone)"),
        required=False,
        max_length=200,
    )

    def clean(self):
        data = super().clean()
        preference, contact = data.get("contact_preference"), data.get("contact", "").strip()
        if preference == ContactPreference.EMAIL:
            try:
                data["contact"] = normalize.normalise_email(contact)
            except ValueError:
                self.add_error("contact", _("Enter an email address like name@example.com."))
        elif preference == ContactPreference.PHONE:
            try:
                data["contact"] = normalize.normalise_phone(contact)
            except ValueError:
                self.add_error("contact", _("Enter a phone number like 612 345 678."))
        else:
            data["contact"] = ""  # never keep a contact detail the family did not ask us to use
        return data


class WhatForm(StepForm):
    categories = forms.MultipleChoiceField(
        label=_("What has happened? Choose all that apply."),
        choices=WHAT_HAPPENED,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one.")},
    )
    narrative = forms.CharField(
        label=_("Tell us in your own words (optional)"),
        help_text=_("What happened, when, and who knows about it. Do not describe the images."),
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        max_length=5000,
    )


class UrgentForm(StepForm):
    payments = forms.CharField(
        label=_("Where do they want the money sent? (optional)"),
        help_text=_("A Bizum number, a bank account (IBAN) or a crypto address. One per line."),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    demanding_platform = forms.ChoiceField(
        label=_("Where are they writing from?"),
        choices=[("", _("I don't know")), *HANDLE_PLATFORMS, ("whatsapp", "WhatsApp")],
        required=False,
    )
    demanding_handle = forms.CharField(
        label=_("Their account name or phone number (optional)"),
        required=False,
        max_length=200,
    )

    def clean_payments(self):
        lines = _lines(self.cleaned_data["payments"])
        for line in lines:
            if not re.fullmatch(r"[\w .:+/-]{4,120}", line):
                raise forms.ValidationError(
                    _("Write each payment detail on its own line, as you received it.")
                )
        return lines

    def clean(self):
        data = super().clean()
        handle = data.get("demanding_handle", "").strip()
        platform = data.get("demanding_platform") or None
        if handle:
            try:
                data["demanding_handle"] = (
                    normalize.normalise_phone(handle)
                    if platform == "whatsapp"
                    else normalize.normalise_handle(handle, platform)
                )
            except ValueError:
                self.add_error(
                    "demanding_handle",
                    _("That does not look like an account name on the platform you chose."),
                )
        return data


class WhereForm(StepForm):
    platforms = forms.MultipleChoiceField(
        label=_("Where have the images been seen? Choose all that apply."),
        choices=PLATFORM_CHOICES,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    urls = forms.CharField(
        label=_("Web addresses (links) where they appear (optional)"),
        help_text=_("Copy each link from the address bar or the share button. One per line."),
        widget=forms.Textarea(attrs={"rows": 4, "inputmode": "url"}),
        required=False,
    )
    groups = forms.CharField(
        label=_("Invitation links of groups or channels (optional)"),
        help_text=_("For example https://chat.whatsapp.com/… or https://t.me/… One per line."),
        widget=forms.Textarea(attrs={"rows": 3, "inputmode": "url"}),
        required=False,
    )

    def clean_urls(self):
        return _links(self.cleaned_data["urls"])

    def clean_groups(self):
        return _links(self.cleaned_data["groups"])

    def clean(self):
        data = super().clean()
        if not self.errors and not (
            data.get("platforms") or data.get("urls") or data.get("groups")
        ):
            raise forms.ValidationError(
                _(
                    "Choose at least one place, or add a link. "
                    "If you don't know, choose “Somewhere else”."
                )
            )
        return data


class InvolvedForm(StepForm):
    platform = forms.ChoiceField(
        label=_("Platform of the accounts below"),
        choices=[("", _("I don't know")), *HANDLE_PLATFORMS],
        required=False,
    )
    handles = forms.CharField(
        label=_("Account names or profile links (optional)"),
        help_text=_("One per line, for example @name or a link to the profile."),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    phones = forms.CharField(
        label=_("Phone numbers (optional)"),
        help_text=_("One per line."),
        widget=forms.Textarea(attrs={"rows": 2, "inputmode": "tel"}),
        required=False,
    )
    names = forms.CharField(
        label=_("Names, if you know them (optional)"),
        help_text=_("One per line."),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )

    def clean_phones(self):
        return _each(
            _lines(self.cleaned_data["phones"]),
            normalize.normalise_phone,
            _("The phone number on line %(lines)s is not complete or not valid."),
        )

    def clean_names(self):
        return [n[:120] for n in _lines(self.cleaned_data["names"])]

    def clean(self):
        data = super().clean()
        platform = data.get("platform") or None
        raw = _lines(data.get("handles", "")) if "handles" in data else []
        handles, bad = [], []
        for number, line in enumerate(raw, start=1):
            detected = normalize.detect_platform(line) if "/" in line else None
            try:
                value = normalize.normalise_handle(line, detected or platform)
            except ValueError:
                bad.append(str(number))
                continue
            handles.append({"platform": detected or platform or "", "value": value})
        if bad:
            self.add_error(
                "handles",
                _("The account on line %(lines)s does not look right for that platform.")
                % {"lines": ", ".join(bad)},
            )
        data["handles"] = handles
        return data

    def answers(self) -> dict:
        data = dict(self.cleaned_data)
        data.pop("platform", None)
        return data


class EvidenceForm(StepForm):
    """Fingerprints computed in the browser; the image itself never reaches us."""

    fingerprints = forms.CharField(widget=forms.HiddenInput, required=False, max_length=20000)

    def clean_fingerprints(self):
        raw = self.cleaned_data["fingerprints"] or "[]"
        error = forms.ValidationError(
            _("The fingerprints could not be read. Please choose the files again.")
        )
        try:
            items = json.loads(raw)
        except ValueError:
            raise error from None
        if not isinstance(items, list) or len(items) > MAX_LINES:
            raise error
        clean = []
        for item in items:
            try:
                pdq = item.get("pdq") or ""
                quality = item.get("pdqQuality")
                size = item.get("size")
                fp = {
                    "sha256": fingerprints.validate_sha256_hex(str(item["sha256"])),
                    "md5": fingerprints.validate_md5_hex(str(item["md5"])),
                    "pdq": fingerprints.validate_pdq_hex(pdq) if pdq else "",
                    "pdq_quality": int(quality) if pdq and quality is not None else None,
                    "pdq_version": str(item.get("pdqVersion") or "")[:80] if pdq else "",
                    "media": "image"
                    if pdq
                    else ("video" if item.get("media") == "video" else "other"),
                    "size": int(size) if size is not None else None,
                }
            except (KeyError, TypeError, ValueError, AttributeError):
                raise error from None
            if fp["pdq_quality"] is not None and not 0 <= fp["pdq_quality"] <= 100:
                raise error
            if fp["size"] is not None and not 0 <= fp["size"] <= 10 * 2**30:
                raise error
            if fp["sha256"] not in {c["sha256"] for c in clean}:
                clean.append(fp)
        return clean


class ConsentForm(StepForm):
    takedown = forms.BooleanField(
        label=_("Ask platforms to remove the images, in our name"), required=False
    )
    hash_sharing = forms.BooleanField(
        label=_(
            "Share the fingerprints (never the images) with platforms, "
            "so copies can be found and blocked"
        ),
        required=False,
    )
    police = forms.BooleanField(
        label=_("Tell the police about this case, if the group thinks it should"), required=False
    )
    contact = forms.BooleanField(
        label=_("The group may contact us in the way we chose"), required=False
    )
    assent = forms.ChoiceField(
        label=_("Does the young person agree with sending this report?"),
        help_text=_("From 14, young people in Spain decide about their own data too."),
        choices=[("yes", _("Yes")), ("no", _("No")), ("unknown", _("We have not asked yet"))],
        widget=forms.RadioSelect,
        required=False,
    )

    def __init__(self, *args, ask_assent: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not ask_assent:
            del self.fields["assent"]
        else:
            self.fields["assent"].required = True
            self.fields["assent"].error_messages["required"] = _("Choose one answer.")

    def answers(self) -> dict:
        data = dict(self.cleaned_data)
        if "assent" in data:
            data["assent"] = {"yes": True, "no": False}.get(data["assent"])
        return data


class CheckForm(forms.Form):
    # Honeypot: hidden from people (and from screen readers); bots fill every field.
    website = forms.CharField(required=False, max_length=200)


class FamilySignInForm(forms.Form):
    reference = forms.CharField(
        label=_("Case reference"),
        help_text=_("It starts with AMP-, for example AMP-7KQ2M9XD."),
        max_length=20,
        error_messages={"required": _("Enter your case reference.")},
    )
    code = forms.CharField(
        label=_("Access code"),
        help_text=_("16 letters and numbers. Dashes and spaces do not matter."),
        max_length=40,
        widget=forms.PasswordInput(render_value=False),
        error_messages={"required": _("Enter your access code.")},
    )


class MessageForm(forms.Form):
    body = forms.CharField(
        label=_("Your message"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=5000,
        error_messages={"required": _("Write a message first.")},
    )


class NewCopiesForm(EvidenceForm):
    """Fingerprints of new copies of the image, made on the status page's device."""

    def clean_fingerprints(self):
        clean = super().clean_fingerprints()
        if not clean:
            raise forms.ValidationError(
                _("Choose the new copies on your phone first; their fingerprints are made there.")
            )
        return clean

    def evidence(self) -> list[EvidenceFingerprint]:
        return [EvidenceFingerprint(**fp) for fp in self.cleaned_data["fingerprints"]]


class MoreLinksForm(forms.Form):
    urls = forms.CharField(
        label=_("More links where the images appear"),
        help_text=_("One per line."),
        widget=forms.Textarea(attrs={"rows": 3, "inputmode": "url"}),
        error_messages={"required": _("Add at least one link.")},
    )

    def clean_urls(self):
        return _links(self.cleaned_data["urls"])


def submission(answers: dict) -> Submission:
    """The typed report for `support.intake.submit_report`, from the draft's answers
    (one dict per step, as the step forms' `answers()` gave them)."""
    who, what = answers["who"], answers.get("what", {})
    where, urgent = answers.get("where", {}), answers.get("urgent", {})
    involved = answers.get("involved", {})
    return Submission(
        filer_role=who["filer_role"],
        age_band=who["age_band"],
        contact_preference=who["contact_preference"],
        contact=who.get("contact", ""),
        categories=tuple(what.get("categories", [])),
        narrative=what.get("narrative", ""),
        urls=tuple(where.get("urls", [])),
        groups=tuple(where.get("groups", [])),
        payments=tuple(urgent.get("payments", [])),
        demanding_handle=urgent.get("demanding_handle", ""),
        demanding_platform=urgent.get("demanding_platform", "") or "",
        handles=tuple(Handle(h["value"], h["platform"]) for h in involved.get("handles", [])),
        phones=tuple(involved.get("phones", [])),
        names=tuple(involved.get("names", [])),
        fingerprints=tuple(
            EvidenceFingerprint(**fp) for fp in answers.get("evidence", {}).get("fingerprints", [])
        ),
        consents=dict(answers.get("consent", {})),
    )
