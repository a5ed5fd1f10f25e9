from django import forms
from django.contrib.auth import password_validation
from django.utils.html import conditional_escape
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _

from vault.normalize import PLATFORMS

from .models import AgeBand, CaseStatus, EvidenceReason, Priority, Referral, Role


def _attrs(attrs: dict) -> str:
    """django/forms/widgets/attrs.html, in Python."""
    out = []
    for name, value in attrs.items():
        if value is False:
            continue
        out.append(f" {conditional_escape(name)}")
        if value is not True:
            out.append(f'="{conditional_escape(str(value))}"')
    return "".join(out)


class QuickSelect(forms.Select):
    """A select written out in Python with the very markup of Django's select.html.

    The queue's filter form has seven selects and ~40 options; Django renders each
    option through two template includes, ~40% of a queue page's template time.
    tests/support/test_quick_select.py compares the output with Django's own widget.
    """

    def render(self, name, value, attrs=None, renderer=None):
        widget = self.get_context(name, value, attrs)["widget"]
        out = [f'<select name="{conditional_escape(widget["name"])}"{_attrs(widget["attrs"])}>']
        for group_name, group_choices, _index in widget["optgroups"]:
            if group_name:
                out.append(f'\n  <optgroup label="{conditional_escape(group_name)}">')
            for option in group_choices:
                out.append(
                    f'\n  <option value="{conditional_escape(str(option["value"]))}"'
                    f"{_attrs(option['attrs'])}>{conditional_escape(option['label'])}</option>\n"
                )
            if group_name:
                out.append("\n  </optgroup>")
        out.append("\n</select>")
        return mark_safe("".join(out))  # noqa: S308 - every value above is escaped


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("Email address"), max_length=254)
    # The least-privileged role with case access: a coordinator is a deliberate choice.
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.CASEWORKER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class AcceptInvitationForm(forms.Form):
    password1 = forms.CharField(
        label=_("Choose a password"), widget=forms.PasswordInput, strip=False, max_length=200
    )
    password2 = forms.CharField(
        label=_("Repeat the password"), widget=forms.PasswordInput, strip=False, max_length=200
    )

    def __init__(self, *args, email: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self):
        data = super().clean()
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords are different."))
        elif p1:
            try:
                password_validation.validate_password(p1)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data


# --- Case work ---------------------------------------------------------------------------


class QueueFilterForm(forms.Form):
    q = forms.CharField(
        label=_("Search"),
        help_text=_("A case reference, a link, a phone number or an account name (exact)."),
        required=False,
        max_length=300,
    )
    status = forms.ChoiceField(
        label=_("Status"),
        choices=[("", _("Any")), *CaseStatus.choices],
        required=False,
        widget=QuickSelect,
    )
    priority = forms.TypedChoiceField(
        label=_("Priority"),
        choices=[("", _("Any")), *Priority.choices],
        coerce=int,
        empty_value=None,
        required=False,
        widget=QuickSelect,
    )
    assignee = forms.ChoiceField(label=_("Assigned to"), required=False, widget=QuickSelect)
    incident = forms.ChoiceField(label=_("Incident"), required=False, widget=QuickSelect)
    platform = forms.ChoiceField(label=_("Platform"), required=False, widget=QuickSelect)
    age_band = forms.ChoiceField(
        label=_("Age"),
        choices=[("", _("Any")), *AgeBand.choices],
        required=False,
        widget=QuickSelect,
    )
    label = forms.CharField(label=_("Label"), required=False, max_length=40)
    since = forms.DateField(
        label=_("Received from"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    until = forms.DateField(
        label=_("Received until"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    order = forms.ChoiceField(
        label=_("Sort by"),
        choices=[("priority", _("Most urgent first")), ("newest", _("Newest first")),
                 ("oldest", _("Oldest first"))],
        required=False,
        widget=QuickSelect,
    )  # fmt: skip

    def __init__(self, *args, members=(), incidents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", _("Anyone")),
            ("me", _("Me")),
            ("none", _("Nobody yet")),
            *[(str(m.uuid), m.user.email) for m in members],
        ]
        self.fields["incident"].choices = [
            ("", _("Any")),
            *[(str(i.uuid), i.title) for i in incidents],
        ]
        self.fields["platform"].choices = [("", _("Any")), *[(p, p.title()) for p in PLATFORMS]]


class StatusForm(forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=CaseStatus.choices)


class AssignForm(forms.Form):
    assignee = forms.ChoiceField(label=_("Assign to"), required=False)

    def __init__(self, *args, members=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", _("Nobody")),
            *[(str(m.uuid), m.user.email) for m in members],
        ]


class CaseIncidentForm(forms.Form):
    """Which open incident a case belongs to ("" = none)."""

    incident = forms.ChoiceField(label=_("Incident"), required=False)

    def __init__(self, *args, incidents=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["incident"].choices = [("", "—"), *[(str(i.uuid), i.title) for i in incidents]]


class HoldForm(forms.Form):
    hold = forms.ChoiceField(
        label=_("Legal hold"), choices=[("on", _("Put on hold")), ("off", _("Lift the hold"))]
    )


class ErasureForm(forms.Form):
    approve = forms.ChoiceField(
        label=_("Decision"), choices=[("yes", _("Approve")), ("no", _("Refuse"))]
    )


class LabelsForm(forms.Form):
    labels = forms.CharField(
        label=_("Labels"),
        help_text=_("Separated by commas, for example: school, pending police report."),
        required=False,
        max_length=500,
    )

    def clean_labels(self):
        return [t for t in self.cleaned_data["labels"].split(",") if t.strip()]


class PriorityForm(forms.Form):
    priority = forms.TypedChoiceField(label=_("Priority"), choices=Priority.choices, coerce=int)


class NoteForm(forms.Form):
    body = forms.CharField(
        label=_("Note"), widget=forms.Textarea(attrs={"rows": 3}), max_length=10000
    )
    shared = forms.BooleanField(
        label=_("Show this note to the family on their status page"), required=False
    )


class ReplyForm(forms.Form):
    body = forms.CharField(
        label=_("Message to the family"), widget=forms.Textarea(attrs={"rows": 4}), max_length=5000
    )


class TaskForm(forms.Form):
    title = forms.CharField(label=_("Task"), max_length=300)
    due = forms.DateField(
        label=_("Due"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )


class ReferralForm(forms.Form):
    to = forms.ChoiceField(label=_("Referred to"), choices=Referral.To.choices)
    on = forms.DateField(label=_("Date"), widget=forms.DateInput(attrs={"type": "date"}))
    reference = forms.CharField(label=_("Their reference number"), required=False, max_length=200)
    outcome = forms.CharField(
        label=_("Outcome"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class IncidentForm(forms.Form):
    title = forms.CharField(
        label=_("Name of the incident"),
        help_text=_("For example: “School X — September”. Families see nothing of it."),
        max_length=200,
    )


class RetentionForm(forms.Form):
    retention_days = forms.IntegerField(
        label=_("Days a closed case is kept before it is destroyed"),
        min_value=30,
        max_value=3650,
    )


class RevealForm(forms.Form):
    """The reason for seeing (or downloading) a file: no default, so nobody records a
    reason they did not choose by pressing the button."""

    reason = forms.ChoiceField(
        label=_("Why do you need to see it?"),
        choices=EvidenceReason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose why you need to see it.")},
    )


class DownloadForm(forms.Form):
    """The same choice before the original leaves the system (prefixed "download")."""

    reason = forms.ChoiceField(
        label=_("Why do you need the original?"),
        choices=EvidenceReason.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Choose why you need the original.")},
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, prefix="download", **kwargs)
