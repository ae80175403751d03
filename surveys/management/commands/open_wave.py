from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from surveys import services
from surveys.models import Wave


class Command(BaseCommand):
    help = "Open a draft wave now: freeze the roster and send the invitations."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("wave_id", type=int)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            wave = services.wave_open(wave_id=options["wave_id"])
        except Wave.DoesNotExist as error:
            raise CommandError(f"No wave with the id {options['wave_id']}.") from error
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(f"Wave {wave.pk} ({wave.label}) is open: {wave.invited_count} invitations.")
