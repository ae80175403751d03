"""Drop the table of rest_framework.authtoken, which held API keys in plain text.

The app is no longer installed, so its own migrations cannot remove the table; without this,
every old key would stay readable in the database and in its backups. Tokens are now
django-rest-knox digests.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies: list[tuple[str, str]] = []

    operations = [
        migrations.RunSQL("DROP TABLE IF EXISTS authtoken_token", reverse_sql=migrations.RunSQL.noop),
    ]
