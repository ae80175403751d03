from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys import services


class Command(BaseCommand):
    help = "Create a coalition with the default sectors, or those of a JSON file."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--name", required=True)
        parser.add_argument("--sectors", type=Path, help="JSON file: a list of {slug, name, sensitive}.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            coalition = services.coalition_create(
                slug=options["slug"], name=options["name"], sectors_file=options["sectors"]
            )
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"{coalition.slug} created with {coalition.sectors.count()} sectors")
