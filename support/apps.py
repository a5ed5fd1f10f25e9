from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "support"
    verbose_name = "Support groups"

    def ready(self):
        from . import checks  # noqa: F401  (registers the deployment checks)
