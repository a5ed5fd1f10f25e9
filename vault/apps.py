from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "vault"
    verbose_name = "Evidence vault"

    def ready(self):
        from . import checks  # noqa: F401 - registers the key-file permission check
