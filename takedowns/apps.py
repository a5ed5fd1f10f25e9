from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TakedownsConfig(AppConfig):
    name = "takedowns"
    verbose_name = _("Takedowns")

    def ready(self):
        # Support's pages never import this app: it registers what it adds to them.
        from support import extensions

        from . import metrics, selectors

        extensions.register_case_panel(
            extensions.CasePanel(
                slug="takedowns",
                label=_("Takedowns"),
                template="takedowns/panel.html",
                context=selectors.panel,
                order=40,
                visible=selectors.panel_visible,
            )
        )
        extensions.register_case_urls(
            extensions.CaseUrls(
                prefix="takedowns", module="takedowns.case_urls", namespace="takedowns_case"
            )
        )
        extensions.register_dashboard_figures(metrics.dashboard_figures)

        from support.demo import demo_seeded

        from . import demo

        demo_seeded.connect(demo.seed_takedown_demo, dispatch_uid="takedowns-demo")

        # A notice item keeps its location's blind index for the repeat rule; support's
        # rotation step (registered first: support is ready before this app) recomputes
        # the locations', this one copies them over.
        from vault.services import register_rotation_step

        from .services import sync_item_url_indexes

        register_rotation_step("takedowns.url_indexes", sync_item_url_indexes)
