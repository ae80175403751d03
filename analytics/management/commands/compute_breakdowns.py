from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils.translation import gettext as _

from analytics import services
from analytics.models import AnalyticsRun
from surveys.models import Wave


class Command(BaseCommand):
    help = "Compute a closed wave's results (breakdowns, pair matrix) on the analytics queue, or here with --now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("wave_id", type=int)
        parser.add_argument("--force", action="store_true", help="Recompute even if results exist for this version.")
        parser.add_argument("--now", action="store_true", help="Compute in this process instead of enqueuing.")

    def handle(self, *args: Any, wave_id: int, force: bool, now: bool, **options: Any) -> None:
        try:
            if now:
                services.run_request(wave_id=wave_id, force=force)
                services.breakdowns_compute(wave_id=wave_id)
            else:
                services.breakdowns_enqueue(wave_id=wave_id, force=force)
        except Wave.DoesNotExist as error:
            raise CommandError(_("There is no wave %(id)s.") % {"id": wave_id}) from error
        except services.AnalyticsError as error:
            raise CommandError(str(error)) from error
        run = AnalyticsRun.objects.filter(wave_id=wave_id).order_by("-requested_at").first()
        if run is None:  # the wave was deleted meanwhile
            raise CommandError(_("There is no wave %(id)s.") % {"id": wave_id})
        self.stdout.write(
            _("Results of wave %(id)s: %(status)s (%(stage)s).")
            % {"id": wave_id, "status": run.get_status_display(), "stage": run.get_stage_display()}
        )
