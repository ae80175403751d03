from datetime import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from surveys import services
from surveys.models import Coalition, Instrument


def _when(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError as error:
        raise CommandError(f"--{name} must be an ISO date and time, e.g. 2026-12-01T09:00.") from error
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = "Create a draft wave for a coalition and print its id."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("coalition")
        parser.add_argument("label")
        parser.add_argument("--instrument", required=True, help="Instrument slug; its newest version is used.")
        parser.add_argument("--instrument-version", type=int, help="A specific instrument version.")
        parser.add_argument("--opens")
        parser.add_argument("--closes")
        parser.add_argument("--reminders", default="7,14", help="Reminder days after opening, e.g. 7,14.")

    def handle(self, *args: Any, **options: Any) -> None:
        coalition = Coalition.objects.filter(slug=options["coalition"]).first()
        if coalition is None:
            raise CommandError(f"No coalition with the slug {options['coalition']!r}.")
        instruments = Instrument.objects.filter(slug=options["instrument"]).order_by("-version")
        if options["instrument_version"]:
            instruments = instruments.filter(version=options["instrument_version"])
        instrument = instruments.first()
        if instrument is None:
            raise CommandError(f"No instrument {options['instrument']!r}; load it with load_instrument.")
        try:
            days = [int(day) for day in options["reminders"].split(",") if day.strip()]
        except ValueError as error:
            raise CommandError("--reminders must be whole numbers separated by commas.") from error
        try:
            wave = services.wave_create(
                coalition=coalition,
                label=options["label"],
                instrument=instrument,
                opens_at=_when(options["opens"], "opens"),
                closes_at=_when(options["closes"], "closes"),
                reminder_days=days,
            )
        except services.ServiceError as error:
            raise CommandError(str(error)) from error
        self.stdout.write(str(wave.pk))
