from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys import services
from surveys.models import Coalition


class Command(BaseCommand):
    help = "Import a coalition's roster from CSV (email, sector[, role, language]); all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("coalition")
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        coalition = Coalition.objects.filter(slug=options["coalition"]).first()
        if coalition is None:
            raise CommandError(f"No coalition with the slug {options['coalition']!r}.")
        try:
            content = options["file"].read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {options['file']} as UTF-8 text: {error}.") from error
        try:
            report = services.roster_import(coalition=coalition, content=content, actor="import_roster")
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        if not report.is_ok:
            problems = "\n".join(f"  - {problem}" for problem in report.errors)
            raise CommandError(f"Nothing was imported:\n{problems}")
        self.stdout.write(f"{report.created} added, {report.updated} updated, {report.unchanged} unchanged.")
