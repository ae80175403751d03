"""Publish the default data-use agreement as version 1, so that a new installation has one to accept."""

from django.db import migrations


def publish_default(apps, schema_editor):  # type: ignore[no-untyped-def]
    from exports.services import AGREEMENT_DEFAULT

    agreements = apps.get_model("exports", "DataUseAgreement")
    if not agreements.objects.exists():
        agreements.objects.create(version=1, title=AGREEMENT_DEFAULT["title"], text=AGREEMENT_DEFAULT["text"])


class Migration(migrations.Migration):
    dependencies = [("exports", "0001_initial")]

    operations = [migrations.RunPython(publish_default, migrations.RunPython.noop)]
