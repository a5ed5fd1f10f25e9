"""Forms of the takedown pages. Every message a caseworker sees is translated."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from .models import CaseTakedownFacts, NoticeState, RejectionReason

N = NoticeState
MAX_TEXT = 4000


class FactsForm(forms.Form):
    signature = forms.CharField(
        label=_("The parent's electronic signature"),
        help_text=_(
            'Typed by the parent or guardian, as "/s/ full name". Only TAKE IT DOWN '
            "requests carry it."
        ),
        max_length=200,
        required=False,
    )
    circumstances = forms.CharField(
        label=_("What happened (for the AEPD)"),
        widget=forms.Textarea(attrs={"rows": 4}),
        max_length=MAX_TEXT,
        required=False,
    )
    means_of_spread = forms.CharField(
        label=_("How the images are being spread"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_TEXT,
        required=False,
    )
    prior_actions_answered = forms.BooleanField(
        label=_("We know whether police or court action has been taken"), required=False
    )
    prior_actions = forms.CharField(
        label=_("Police or court actions"),
        help_text=_("Leave empty if there are none."),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=MAX_TEXT,
        required=False,
    )
    vulnerabilities = forms.MultipleChoiceField(
        label=_("Vulnerability"),
        choices=CaseTakedownFacts.Vulnerability.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )


class PrepareForm(forms.Form):
    route = forms.ChoiceField(label=_("Route"))
    locations = forms.MultipleChoiceField(label=_("Addresses"), widget=forms.CheckboxSelectMultiple)
    recipient = forms.EmailField(
        label=_("Send to (the site's abuse or contact address)"), required=False
    )
    new_fact = forms.CharField(
        label=_("New fact (only to send again within 72 hours)"),
        max_length=1000,
        required=False,
    )

    def __init__(self, *args, routes, locations, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["route"].choices = [(str(r.uuid), str(r)) for r in routes]
        self.fields["locations"].choices = [(str(loc.uuid), loc.value) for loc in locations]


class SubmittedForm(forms.Form):
    ticket = forms.CharField(
        label=_("Ticket or reference the platform gave"), max_length=200, required=False
    )
    screenshot = forms.FileField(label=_("Confirmation screenshot (optional)"), required=False)


class ReplyForm(forms.Form):
    OUTCOMES = [
        ("", _("No change")),
        (N.ACKNOWLEDGED, _("They confirmed receipt")),
        (N.REMOVED, _("They removed it")),
        (N.REJECTED, _("They refused")),
    ]
    text = forms.CharField(
        label=_("What the platform said"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=MAX_TEXT,
    )
    at = forms.DateField(
        label=_("Date of the reply"), widget=forms.DateInput(attrs={"type": "date"})
    )
    outcome = forms.ChoiceField(label=_("Outcome"), choices=OUTCOMES, required=False)
    reason = forms.ChoiceField(
        label=_("Reason for the refusal"),
        choices=[("", "—"), *RejectionReason.choices],
        required=False,
    )

    def clean(self):
        data = super().clean()
        if data.get("outcome") == N.REJECTED and not data.get("reason"):
            self.add_error(
                "reason", _("Say why the platform refused: it is needed for escalation.")
            )
        return data


class StateForm(forms.Form):
    CHOICES = [
        (N.REMOVED, _("Confirmed removed")),
        (N.REAPPEARED, _("It appeared again")),
        (N.WITHDRAWN, _("Withdraw this notice")),
    ]
    state = forms.ChoiceField(label=_("Change"), choices=CHOICES)


class SettingsForm(forms.Form):
    inbox_email = forms.EmailField(
        label=_("Case inbox"),
        help_text=_("Platforms reply here; never a family's address."),
    )
    notifier_name = forms.CharField(label=_("Name notices are signed with"), max_length=200)
