"""Leave room in invitation pages so that claiming one is a heap-only (HOT) update.

A claim changes only `is_used`; with free space on the page PostgreSQL updates
the row in place without touching any index.
"""

from django.db import migrations


def set_fillfactor(apps, schema_editor, value=80):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"ALTER TABLE surveys_invitation SET (fillfactor = {int(value)})")


def reset_fillfactor(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("ALTER TABLE surveys_invitation RESET (fillfactor)")


class Migration(migrations.Migration):
    dependencies = [("surveys", "0003_invitation_lean_indexes")]

    operations = [migrations.RunPython(set_fillfactor, reset_fillfactor)]
