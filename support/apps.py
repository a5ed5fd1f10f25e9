from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support groups"

    def ready(self):
        from django.db import transaction
        from django.db.models.signals import post_delete, post_save

        from vault.services import register_rotation_step

        from . import (
            adapters,
            checks,  # noqa: F401  (registers the deployment checks)
            indexes,
            intake,
            members,
        )
        from .models import Case
        from .selectors import case_figures_changed

        def changed(sender, instance, **kwargs):
            organisation_id = instance.organisation_id
            case_figures_changed(organisation_id)
            # Again once committed: a dashboard computed in between, without the
            # change, must not stay cached under the new version.
            transaction.on_commit(lambda: case_figures_changed(organisation_id))

        # The dashboard's cached figures (selectors.DASHBOARD_CACHE_SECONDS). weak=False:
        # nothing else holds this function, and a weak reference would let it vanish.
        post_save.connect(changed, sender=Case, weak=False, dispatch_uid="case-figures-save")
        post_delete.connect(changed, sender=Case, weak=False, dispatch_uid="case-figures-delete")
        # Values under a version-derived key that rotation must rewrite (docs/production.md).
        register_rotation_step("support.invitation_tokens", members.reencrypt_invitation_tokens)
        register_rotation_step("support.mfa_secrets", adapters.reencrypt_mfa_secrets)
        # What used to stay tied to the oldest KEK (docs/production.md, "Rotating and
        # retiring a KEK"): blind indexes are recomputed, access-code hashes re-encrypted.
        register_rotation_step(
            "support.blind_indexes",
            indexes.recompute_blind_indexes,
            counts=indexes.blind_index_version_counts,
        )
        register_rotation_step(
            "support.access_codes",
            intake.reseal_family_codes,
            counts=intake.family_code_version_counts,
        )
