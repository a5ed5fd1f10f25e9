"""Staff pages for the follow-up side of takedowns: hash-list downloads, removal
metrics, the yearly transparency report and the status re-check setting.

(The notice flow's own views live in views.py.) Thin views: a form, an access
helper from support.permissions, one service call.
"""

from __future__ import annotations

from django import forms
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from support.http import origin
from support.models import Case, Incident
from support.permissions import COORDINATION, get_membership_for_user
from support.services import staff_actor

from . import hashlists


class HashListForm(forms.Form):
    fmt = forms.ChoiceField(
        label=gettext_lazy("Format"),
        choices=[
            ("vics", gettext_lazy("VICS 2.0 JSON (Project VIC: hotlines and police tools)")),
            ("csv", gettext_lazy("CSV (spreadsheet)")),
            ("json", gettext_lazy("JSON")),
        ],
        initial="vics",
    )
    incident = forms.ChoiceField(label=gettext_lazy("Incident"), required=False)
    case = forms.CharField(
        label=gettext_lazy("Only one case (its reference)"), required=False, max_length=16
    )

    def __init__(self, *args, organisation, **kwargs):
        super().__init__(*args, **kwargs)
        self.organisation = organisation
        self.incidents = {
            str(i.uuid): i for i in Incident.objects.filter(organisation=organisation)
        }
        self.fields["incident"].choices = [("", _("All incidents"))] + [
            (key, i.title) for key, i in self.incidents.items()
        ]

    def clean_incident(self):
        return self.incidents.get(self.cleaned_data["incident"])

    def clean_case(self):
        reference = self.cleaned_data["case"].strip().upper()
        if not reference:
            return None
        case = Case.objects.filter(
            organisation=self.organisation, reference=reference, destroyed_at=None
        ).first()
        if case is None:
            raise forms.ValidationError(_("No case of your organisation has this reference."))
        return case


@login_required
def hash_lists(request, org):
    """Coordinators download the fingerprints families agreed to share (audited)."""
    membership = get_membership_for_user(request.user, org, roles=COORDINATION)
    organisation = membership.organisation
    form = HashListForm(request.POST or None, organisation=organisation)
    if request.method == "POST" and form.is_valid():
        hash_list = hashlists.export_hash_list(
            actor=staff_actor(membership, origin(request)),
            organisation=organisation,
            fmt=form.cleaned_data["fmt"],
            incident=form.cleaned_data["incident"],
            case=form.cleaned_data["case"],
        )
        response = HttpResponse(hash_list.data, content_type=hash_list.content_type)
        response["Content-Disposition"] = f'attachment; filename="{hash_list.filename}"'
        return response
    shareable = hashlists.shareable_fingerprints(organisation=organisation).count()
    return render(
        request,
        "takedowns/hash_lists.html",
        {
            "membership": membership,
            "organisation": organisation,
            "form": form,
            "shareable": shareable,
        },
    )
