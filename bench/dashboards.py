"""Time every leader dashboard page on the stored results of a 200 000-response wave.

    .venv/bin/python -m bench.dashboards [--repeat 50] [--waves 8]

Builds, in a fresh SQLite file (or the database of DATABASE_URL), a coalition
with the default instrument and 13 sectors, `--waves` closed waves whose
latest has 200 000 responses of 250 000 invited, and one open wave. Each
closed wave gets one successful run holding every fixed table the engine
stores (overall, sector, each of the 9 social-location dimensions alone and
crossed with the sector; the overall score, 14 areas and 55 items), with
every group publishable — at this size nothing is small, so this is the
largest page the stored results can produce — and the 13 × 13 pair matrix.

Each page is requested `--repeat` times (after 3 warm-up requests) through
Django's test client as the leader: URL routing, middleware, the selectors'
queries and template rendering, no network. Reported: p50 and p95 in
milliseconds, the number of queries, and the size of the HTML.
"""

import argparse
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

RESPONSES = 200_000
INVITED = 250_000


def _row(groups: list[str], index: int, shift: float) -> list[Any]:
    mean = round(2.6 + (index % 17) * 0.09 + shift, 2)
    n = 900 + 37 * index
    gap = round(((index % 9) - 4) * 0.14, 2)
    return [
        groups,
        n,
        None,
        mean,
        0.71,
        round(mean - 0.05, 2),
        round(mean + 0.05, 2),
        round((mean - 1) * 25, 1),
        gap,
        0.0001 if abs(gap) >= 0.5 else 0.2,
        0.001 if abs(gap) >= 0.5 else 0.4,
        round(gap / 0.7, 2),
        abs(gap) >= 0.5,
        False,
    ]


def _store(wave: Any, shift: float) -> None:
    from django.utils import timezone

    from analytics.models import AnalyticsRun, PublishedPairMatrix, PublishedTable

    run = AnalyticsRun.objects.create(
        wave=wave,
        engine_version="bench",
        status=AnalyticsRun.Status.SUCCEEDED,
        stage=AnalyticsRun.Stage.DONE,
        progress=100,
        finished_at=timezone.now(),
    )
    definition = wave.instrument.definition
    areas = [area["slug"] for area in definition["areas"]]
    items = [
        item["slug"]
        for section in definition["sections"]
        for item in section["items"]
        if item.get("type") == "scale" and item.get("area")
    ]
    sectors = [sector["slug"] for sector in wave.sectors_snapshot]
    dimensions = {
        dimension["slug"]: [option["slug"] for option in dimension["options"]] for dimension in definition["dimensions"]
    }
    keys: list[tuple[tuple[str, ...], list[list[str]]]] = [((), [[]]), (("sector",), [[slug] for slug in sectors])]
    for dimension, options in dimensions.items():
        keys.append(((dimension,), [[option] for option in options]))
        keys.append((("sector", dimension), [[slug, option] for slug in sectors for option in options]))
    tables = []
    position = 0
    for key, groups in keys:
        for measure, measured in (("overall", ["overall"]), ("area", areas), ("item", items)):
            for area in measured:
                cells = [_row(group, index + position, shift) for index, group in enumerate(groups)]
                tables.append(
                    PublishedTable(
                        run=run,
                        dimensions=list(key),
                        table_key=",".join(key),
                        measure=measure,
                        area=area,
                        position=position,
                        cells=cells,
                    )
                )
                position += 1
    PublishedTable.objects.bulk_create(tables, batch_size=500)
    pairs = []
    for rater_index, rater in enumerate(sectors):
        for rated_index, rated in enumerate(sectors):
            mean = round(2.0 + ((rater_index * 7 + rated_index * 3) % 20) * 0.1, 2)
            pairs.append([rater, rated, 800 + rater_index, mean, None, False, False])
    PublishedPairMatrix.objects.create(run=run, cells=pairs)


def build(wave_count: int) -> dict[str, Any]:
    """Create the coalition, its waves and their stored results; return the ids the pages need."""
    from django.contrib.auth.models import User
    from django.utils import timezone

    from surveys import services
    from surveys.models import Member, Wave

    instrument, _created = services.instrument_load_default()
    coalition = services.coalition_create(slug="bench", name="Bench Coalition")
    sector = coalition.sectors.get(slug="government")
    user = User.objects.create_user(username="bench-leader", password="bench-leader-password")  # noqa: S106
    Member.objects.create(coalition=coalition, email="leader@bench.example", sector=sector, role="leader", user=user)
    snapshot = [
        {"slug": each.slug, "names": each.names, "is_sensitive": each.is_sensitive}
        for each in coalition.sectors.filter(is_active=True).order_by("position", "slug")
    ]
    now = timezone.now()
    waves = []
    for index in range(wave_count + 1):
        is_open = index == wave_count
        opens = now - timedelta(days=91 * (wave_count - index) + 10)
        wave = Wave.objects.create(
            coalition=coalition,
            instrument=instrument,
            label=f"Wave {index + 1}",
            opens_at=opens,
            closes_at=opens + timedelta(days=21),
            status=Wave.Status.OPEN if is_open else Wave.Status.CLOSED,
            sectors_snapshot=snapshot,
            invited_count=INVITED,
            released_count=0 if is_open else RESPONSES,
        )
        if not is_open:
            _store(wave, shift=0.03 * index)
        waves.append(wave)
    return {"user": user, "latest": waves[-2], "open": waves[-1]}


def measure(client: Any, url: str, repeat: int) -> tuple[list[float], list[float], int, int]:
    from django.db import connection

    for _ in range(3):
        assert client.get(url).status_code == 200, url
    executed: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        executed.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        response = client.get(url)
    timings = []
    cpu = []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.thread_time()
        response = client.get(url)
        timings.append((time.perf_counter() - start) * 1000)
        cpu.append((time.thread_time() - start_cpu) * 1000)
        assert response.status_code == 200
    return timings, cpu, len(executed), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--waves", type=int, default=8)
    parser.add_argument("--gc-freeze", action="store_true", help="move set-up objects out of the collector's reach")
    arguments = parser.parse_args()

    directory = tempfile.mkdtemp(prefix="bench-dashboards-")
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{Path(directory) / 'bench.sqlite3'}")
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings.test"
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment

    setup_test_environment()
    settings.ALLOWED_HOSTS = ["testserver"]
    settings.DEBUG = False
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    ids = build(arguments.waves)
    print(f"stored results of {arguments.waves} closed waves in {time.perf_counter() - started:.1f} s")

    from analytics.models import PublishedTable

    latest, open_wave = ids["latest"], ids["open"]
    cells = sum(len(table.cells) for table in PublishedTable.objects.filter(run__wave=latest))
    print(f"latest wave: {RESPONSES} responses, {cells} stored cells")
    client = Client()
    client.force_login(ids["user"])
    if arguments.gc_freeze:
        import gc

        gc.collect()
        gc.freeze()
    pages = {
        "overview": f"/dashboards/waves/{latest.pk}/",
        "heatmap (sector)": f"/dashboards/waves/{latest.pk}/heatmap/?dimension=sector",
        "heatmap (race-ethnicity)": f"/dashboards/waves/{latest.pk}/heatmap/?dimension=race-ethnicity",
        "sector pairs": f"/dashboards/waves/{latest.pk}/pairs/",
        "gaps (sector)": f"/dashboards/waves/{latest.pk}/gaps/?dimension=sector",
        "trends (every area)": f"/dashboards/waves/{latest.pk}/trends/",
        "trends (one area by sector)": f"/dashboards/waves/{latest.pk}/trends/?view=sector&area=power",
        "participation (open wave)": f"/dashboards/waves/{open_wave.pk}/participation/",
        "heatmap CSV": f"/dashboards/waves/{latest.pk}/heatmap.csv?dimension=sector",
        "heatmap SVG": f"/dashboards/waves/{latest.pk}/heatmap.svg?dimension=sector",
    }
    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs")
    print("\n| page | p50 ms | p95 ms | CPU p50 ms | CPU p95 ms | queries | KiB |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, url in pages.items():
        timings, cpu, queries, size = measure(client, url, arguments.repeat)
        wall, busy = statistics.quantiles(timings, n=20), statistics.quantiles(cpu, n=20)
        print(
            f"| {name} | {statistics.median(timings):.1f} | {wall[18]:.1f} | {statistics.median(cpu):.1f} "
            f"| {busy[18]:.1f} | {queries} | {size / 1024:.0f} |"
        )
    print(f"load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
