from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from django import forms
from django.utils.translation import gettext_lazy as _

from vault import crypto

from .models import Export, PoliceReferral


def parse_public_key(text: str) -> bytes:
    """The unit's X25519 public key, as a PEM (`openssl pkey -pubout`) or raw base64.

    Only parsing happens here; every use of the key is in vault.crypto.
    """
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError:
            raise forms.ValidationError(_("This is not a public key.")) from None
        if not isinstance(key, X25519PublicKey):
            raise forms.ValidationError(_("The key must be an X25519 key.")) from None
        return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    try:
        return crypto.public_key_from_b64(text)
    except ValueError:
        raise forms.ValidationError(_("This is not a public key.")) from None


class UnitForm(forms.Form):
    name = forms.CharField(label=_("Name of the unit"), max_length=200)
    contact = forms.CharField(
        label=_("How to reach the unit"),
        help_text=_("A desk phone or address; it is stored encrypted."),
        required=False,
        max_length=500,
    )
    public_key = forms.CharField(
        label=_("The unit's public key"),
        help_text=_(
            "The unit makes its key pair itself (for example: openssl genpkey -algorithm "
            "X25519 -out unit.pem; openssl pkey -in unit.pem -pubout) and sends you only "
            "the public part. Compare the fingerprint shown afterwards with them by phone."
        ),
        widget=forms.Textarea(attrs={"rows": 4, "spellcheck": "false"}),
        max_length=1000,
    )

    def clean_public_key(self):
        return parse_public_key(self.cleaned_data["public_key"])


class AssignLiaisonForm(forms.Form):
    liaison = forms.ChoiceField(label=_("Police liaison"))
    unit = forms.ChoiceField(label=_("Unit"), required=False)

    def __init__(self, *args, liaisons=(), units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["liaison"].choices = [(str(m.uuid), m.user.email) for m in liaisons]
        self.fields["unit"].choices = [("", _("No unit")), *((str(u.uuid), u.name) for u in units)]


class ReferForm(forms.Form):
    unit = forms.ChoiceField(label=_("Police unit"))
    basis = forms.ChoiceField(
        label=_("On what basis"), choices=PoliceReferral.Basis.choices, widget=forms.RadioSelect
    )
    legal_reason = forms.CharField(
        label=_("The legal obligation and why it applies"),
        help_text=_(
            "Only without the family's consent. For example: LOPIVI arts. 15-16, duty to "
            "report violence against a child, and what happened."
        ),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, units=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit"].choices = [(str(u.uuid), u.name) for u in units]


class ExportForm(forms.Form):
    purpose = forms.ChoiceField(
        label=_("Purpose of this export"), choices=Export.Purpose.choices, widget=forms.RadioSelect
    )
    purpose_detail = forms.CharField(
        label=_("Reference or explanation"),
        help_text=_("For example the number of the diligencias or of the court's request."),
        required=False,
        max_length=300,
    )

    def clean(self):
        data = super().clean()
        if data.get("purpose") == Export.Purpose.OTHER and not data.get("purpose_detail"):
            self.add_error("purpose_detail", _("Explain the purpose."))
        return data


class DownloadForm(forms.Form):
    token = forms.CharField(max_length=100, widget=forms.HiddenInput)
