from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys import services
from surveys.models import Wave


class Command(BaseCommand):
    help = "Close an open wave now and release its pending answers into responses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("wave_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            wave = services.wave_close(wave_id=options["wave_id"])
        except Wave.DoesNotExist as error:
            raise CommandError(f"No wave with the id {options['wave_id']}.") from error
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Wave {wave.pk} ({wave.label}) is closed: {wave.released_count} responses.")
