from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys import services
from surveys.models import Wave


class Command(BaseCommand):
    help = "Import paper or historical answers from CSV into a wave; all or nothing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("wave_id", type=int)
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            content = options["file"].read_text(encoding="utf-8-sig")
        except (OSError, UnicodeDecodeError) as error:
            raise CommandError(f"Cannot read {options['file']} as UTF-8 text: {error}.") from error
        try:
            report = services.responses_import(wave_id=options["wave_id"], content=content, actor="import_responses")
        except Wave.DoesNotExist as error:
            raise CommandError(f"No wave with the id {options['wave_id']}.") from error
        if not report.is_ok:
            problems = "\n".join(f"  - {problem}" for problem in report.errors)
            raise CommandError(f"Nothing was imported:\n{problems}")
        self.stdout.write(f"{report.created} responses imported.")
