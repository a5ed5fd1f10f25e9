from django.db import migrations


def reencrypt(apps, schema_editor):
    """Rewrite takedowns' former-format values under their case's field key.

    With the app's code on purpose (vault.fields); see support's 0009_field_keys.
    """
    from vault.fields import clear_field_key_cache, reencrypt_legacy_values

    reencrypt_legacy_values(app_label="takedowns")
    clear_field_key_cache()


class Migration(migrations.Migration):
    dependencies = [
        ("takedowns", "0006_registry_versions"),
        ("support", "0009_field_keys"),
    ]

    operations = [migrations.RunPython(reencrypt, migrations.RunPython.noop)]
