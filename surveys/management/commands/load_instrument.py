from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys import services
from surveys.instruments import InstrumentError, instrument_read


class Command(BaseCommand):
    help = "Validate an instrument file and store it as a new version unless unchanged."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", type=Path)

    def handle(self, *args: Any, **options: Any) -> None:
        path: Path = options["file"]
        try:
            # The size (at most 2 MiB is read) and the nesting depth are checked before anything else.
            instrument, created = services.instrument_load(definition=instrument_read(path))
        except OSError as error:
            raise CommandError(f"Cannot read {path}: {error.strerror}.") from error
        except InstrumentError as error:
            problems = "\n".join(f"  - {problem}" for problem in error.problems)
            raise CommandError(f"{path} is not a valid instrument:\n{problems}") from error
        state = "loaded as a new version" if created else "unchanged"
        self.stdout.write(f"{instrument.slug} version {instrument.version} ({state})")
