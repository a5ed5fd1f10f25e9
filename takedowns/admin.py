"""The platform registry in the Django admin, for the site's operators.

Platforms change their forms every few months, so operators keep the registry in
step without a deploy. Every save goes through `registry.save_row`: a new version
number, a snapshot of the row (RegistryVersion) and an audit event naming the
changed fields, in one transaction. Rows are never deleted (notices point at them):
an operator deactivates a row instead. A row an organisation owns (a partner
trusted flagger, a local hotline) is seen only by that organisation's staff.
"""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from support.http import origin
from vault import audit

from . import registry
from .models import STALE_AFTER, NoticeTemplate, Platform, RegistryVersion, Route


def _actor(request) -> audit.Actor:
    return audit.Actor.user(request.user, role="site_operator", origin=origin(request))


class StaleFilter(admin.SimpleListFilter):
    title = _("verification")
    parameter_name = "verified"

    def lookups(self, request, model_admin):
        return [("stale", _("not verified for 90 days")), ("current", _("verified recently"))]

    def queryset(self, request, queryset):
        cutoff = timezone.localdate() - STALE_AFTER
        if self.value() == "stale":
            return queryset.filter(last_verified__isnull=True) | queryset.filter(
                last_verified__lt=cutoff
            )
        if self.value() == "current":
            return queryset.filter(last_verified__gte=cutoff)
        return queryset


class RegistryAdmin(admin.ModelAdmin):
    """Saves through registry.save_row (versioned and audited); never deletes."""

    readonly_fields = ("version", "versions")
    list_filter = (StaleFilter, "is_active", "organisation")
    # Registry addresses are public pages of the platforms: https unless written out.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description=_("verified"))
    def verified(self, obj) -> str:
        if obj.is_stale():
            return str(_("STALE: not verified for 90 days"))
        return str(obj.last_verified)

    @admin.display(description=_("versions"))
    def versions(self, obj) -> str:
        if not obj.pk:
            return ""
        rows = RegistryVersion.objects.filter(row_uuid=obj.uuid).order_by("-version")[:20]
        return "; ".join(
            f"v{v.version} {v.created_at:%Y-%m-%d %H:%M} {', '.join(v.changed)}" for v in rows
        )

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            before = None
            if change:
                before = registry.snapshot(type(obj).objects.select_for_update().get(pk=obj.pk))
            registry.save_row(row=obj, actor=_actor(request), before=before)

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Platform)
class PlatformAdmin(RegistryAdmin):
    list_display = ("name", "slug", "kind", "organisation", "version", "verified", "is_active")
    search_fields = ("name", "slug")
    list_filter = (StaleFilter, "kind", "is_active", "organisation")


class RouteForm(forms.ModelForm):
    class Meta:
        model = Route
        # Every editable field; the admin lays them out.
        fields = [f.name for f in Route._meta.fields if f.editable and not f.primary_key]

    def clean(self):
        data = super().clean()
        platform, organisation = data.get("platform"), data.get("organisation")
        if platform and platform.organisation_id and platform.organisation != organisation:
            # An organisation's own platform carries only that organisation's routes.
            raise forms.ValidationError(
                _("A route on an organisation's own platform must belong to that organisation.")
            )
        return data


@admin.register(Route)
class RouteAdmin(RegistryAdmin):
    form = RouteForm
    list_display = (
        "name",
        "platform",
        "basis",
        "channel",
        "organisation",
        "version",
        "verified",
        "is_active",
    )
    list_select_related = ("platform", "organisation")
    search_fields = ("name", "platform__name")
    list_filter = (StaleFilter, "basis", "channel", "is_active", "organisation")


@admin.register(NoticeTemplate)
class NoticeTemplateAdmin(admin.ModelAdmin):
    """Saving a change writes the next version; the one notices used stays as it was."""

    list_display = ("basis", "language", "version", "is_current", "created_at")
    list_filter = ("basis", "language", "is_current")
    readonly_fields = ("version", "is_current")

    def save_model(self, request, obj, form, change):
        with transaction.atomic():
            if change:
                old = NoticeTemplate.objects.select_for_update().get(pk=obj.pk)
                latest = (
                    NoticeTemplate.objects.filter(basis=obj.basis, language=obj.language)
                    .order_by("-version")
                    .first()
                )
                NoticeTemplate.objects.filter(
                    basis=obj.basis, language=obj.language, is_current=True
                ).update(is_current=False)
                obj.pk, obj.id, obj.uuid = None, None, None
                obj.version = (latest or old).version + 1
            obj.is_current = True
            if obj.uuid is None:
                obj.uuid = uuid.uuid4()
            obj.save()
            audit.record(
                "registry.template_changed",
                actor=_actor(request),
                object_type="takedowns_template",
                object_id=obj.uuid,
                data={"basis": obj.basis, "language": obj.language, "version": obj.version},
            )

    def has_delete_permission(self, request, obj=None):
        return False
