from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PoliceConfig(AppConfig):
    name = "police"
    verbose_name = _("Police")

    def ready(self):
        # Support's pages never import this app: it adds its panel, its case URLs
        # and the wording of its case events through support's extension point.
        from support import extensions
        from support.demo import demo_seeded

        from . import demo, exports, selectors, views
        from .models import Export

        extensions.register_case_panel(
            extensions.CasePanel(
                slug="police",
                label=_("Police"),
                template="police/case_panel.html",
                context=views.case_panel_context,
                order=80,
                visible=views.case_panel_visible,
            )
        )
        extensions.register_case_urls(
            extensions.CaseUrls(prefix="police", module="police.case_urls", namespace="police-case")
        )
        extensions.register_event_words(selectors.EVENT_WORDS)
        extensions.register_case_destroyer(Export, exports.destroy_case_exports)
        # Waiting exports' passphrases are under a version-derived key: rotation rewrites them.
        from vault.services import register_rotation_step

        from . import services

        register_rotation_step("police.export_passphrases", services.reencrypt_export_passphrases)
        demo_seeded.connect(demo.seed_police_demo, dispatch_uid="police-demo")
