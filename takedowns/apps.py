from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TakedownsConfig(AppConfig):
    name = "takedowns"
    verbose_name = _("Takedowns")

    def ready(self):
        from support.extensions import register_dashboard_figures

        from . import metrics

        register_dashboard_figures(metrics.dashboard_figures)
