"""The researcher export job on PostgreSQL (issue 5, Scale): load → anonymize + joint audit → code → write → zip.

    .venv/bin/python -m bench.export_job                        # 200, 20 000 and 200 000 responses, 1 round
    .venv/bin/python -m bench.export_job --sizes 200,20000 --rounds 2

Needs PostgreSQL on 127.0.0.1:5432 (trust auth for `postgres`). It drops and
creates `coalition_pulse_exports_bench` (`BENCH_DATABASE_URL` overrides it;
the name must end in `_bench`), creates closed waves of the synthetic
instrument of `bench.analytics` (50 scale items, 6 social-location
dimensions of which 2 multi-select, 13 sectors and the pair matrix) with
`bench.analytics.fixture_create`, computes each wave's published results
(`analytics.services.breakdowns_compute`, timed too), then builds one
export per wave, each in a fresh Python process (imports done, database
connected): `exports.services.export_build`, stages timed by wrapping the
module's functions from outside. **Peak** is `ru_maxrss` after the job minus
the process's RSS just before it. Results go to
`bench/results/export-job-<UTC>.json`.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/coalition_pulse_exports_bench")
os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

import django  # noqa: E402

from bench.analytics import (  # noqa: E402
    RESULTS_DIR,
    SEED,
    _rss_kib,
    database_drop,
    database_recreate,
    fixture_create,
    machine_describe,
)

STAGES = ("load", "release", "code", "write", "metadata", "zip_and_rest", "total")


def _timed(module: Any, name: str, seconds: dict[str, float], stage: str) -> None:
    original: Callable[..., Any] = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            seconds[stage] = seconds.get(stage, 0.0) + time.perf_counter() - start

    setattr(module, name, wrapper)


def export_measure(*, wave_id: int) -> dict[str, Any]:
    """Build one export of the wave in this process and return its stage times, peak memory and sizes."""
    from django.contrib.auth.models import User
    from django.db import connection

    from exports import selectors, services
    from exports.models import Export
    from surveys.models import Wave

    connection.ensure_connection()
    wave = Wave.objects.select_related("coalition").get(pk=wave_id)
    user = User.objects.create_user(username=f"bench-{wave_id}-{time.time_ns()}")
    requester, approver = (
        User.objects.get_or_create(username=name, defaults={"is_superuser": True})[0]
        for name in ("bench-admin", "bench-admin-2")
    )
    grant = services.grant_request(researcher=user, coalition=wave.coalition, by=requester)
    services.grant_approve(grant=grant, by=approver)
    agreement = services.agreement_ensure_default()
    services.agreement_accept(user=user, version=agreement.version)
    export = Export.objects.create(researcher=user, agreement=agreement)  # not enqueued: built below
    export.waves.set([wave])
    assert selectors.export_for_user(user=user, export_id=export.pk) is not None

    seconds: dict[str, float] = {}
    _timed(services, "responses_load", seconds, "load")
    _timed(services, "wave_release", seconds, "release")
    _timed(services, "microdata", seconds, "code")
    _timed(services, "write_microdata", seconds, "write")
    _timed(services, "write_codebook", seconds, "metadata")
    _timed(services, "write_datapackage", seconds, "metadata")
    _timed(services, "_write_aggregates", seconds, "metadata")
    before_kib = _rss_kib()
    cpu_before = time.process_time()
    start = time.perf_counter()
    built = services.export_build(export_id=export.pk)
    seconds["total"] = time.perf_counter() - start
    cpu = time.process_time() - cpu_before
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    if built is None or built.status != Export.Status.SUCCEEDED:
        raise SystemExit(f"the export did not succeed: {built and built.error}")
    named = sum(value for key, value in seconds.items() if key not in ("total",))
    seconds["zip_and_rest"] = seconds["total"] - named
    import zipfile

    archive = zipfile.ZipFile(services.exports_root() / built.file_name)
    files = {info.filename: info.file_size for info in archive.infolist()}
    report = json.loads(archive.read("disclosure-report.json"))["waves"][0]
    return {
        "wave_id": wave_id,
        "responses": report["rows"],
        "seconds": seconds,
        "cpu_s": cpu,
        "peak_mib": (peak_kib - before_kib) / 1024,
        "rss_before_mib": before_kib / 1024,
        "zip_bytes": built.file_size,
        "files": files,
        "microdata_columns": len(archive.read("microdata.csv").split(b"\n", 1)[0].split(b",")),
        "disclosure": {
            "k": report["k"],
            "classes": report["classes"],
            "rows_suppressed": report["rows_suppressed"],
            "dropped": report["dropped"],
            "coarsened_by_audit": report["joint_audit"]["coarsened_by_audit"],
        },
    }


def _child(wave_id: int, exports_root: str) -> dict[str, Any]:
    command = [sys.executable, "-m", "bench.export_job", "--child", "--wave-id", str(wave_id)]
    environment = {**os.environ, "EXPORTS_ROOT": exports_root}
    completed = subprocess.run(command, capture_output=True, text=True, check=False, env=environment)  # noqa: S603
    if completed.returncode != 0:
        raise SystemExit(f"child failed:\n{completed.stderr[-4000:]}")
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="200,20000,200000")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--keep-db", action="store_true")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--wave-id", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parse(argv)
    django.setup()
    if arguments.child:
        print(json.dumps(export_measure(wave_id=arguments.wave_id)))
        return 0
    sizes = sorted(int(size) for size in arguments.sizes.split(","))
    started = datetime.now(UTC)
    database_recreate()
    try:
        from django.db import connections

        from analytics import services as analytics_services

        machine = machine_describe()
        waves = fixture_create(sizes=sizes, instrument_kind="synthetic", seed=arguments.seed)
        for size, wave in waves.items():
            start = time.perf_counter()
            analytics_services.breakdowns_compute(wave_id=wave["wave_id"])
            wave["results_s"] = time.perf_counter() - start
            print(f"  {size}: answers COPY {wave['copy_s']:.1f} s, results computed in {wave['results_s']:.1f} s")
        connections.close_all()
        runs: dict[int, list[dict[str, Any]]] = {size: [] for size in sizes}
        with tempfile.TemporaryDirectory(prefix="export-bench-") as root:
            for round_number in range(arguments.rounds):
                for size in sizes if round_number % 2 == 0 else sizes[::-1]:
                    run = _child(waves[size]["wave_id"], root)
                    run["load_average"] = os.getloadavg()
                    runs[size].append(run)
                    print(
                        f"round {round_number + 1}, {size}: "
                        + ", ".join(f"{stage} {run['seconds'].get(stage, 0):.2f}" for stage in STAGES)
                        + f" s; peak {run['peak_mib']:.0f} MiB; zip {run['zip_bytes'] / 1e6:.1f} MB; "
                        f"{run['microdata_columns']} columns; load average {run['load_average'][0]:.1f}",
                        flush=True,
                    )
        result = {
            "started_at": started.isoformat(timespec="seconds"),
            "command": " ".join(sys.argv),
            "machine": machine,
            "waves": waves,
            "runs": runs,
        }
        RESULTS_DIR.mkdir(exist_ok=True)
        path = RESULTS_DIR / f"export-job-{started.strftime('%Y%m%dT%H%M%SZ')}.json"
        path.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
        print(f"written to {path}")
        return 0
    finally:
        if not arguments.keep_db:
            database_drop()


if __name__ == "__main__":
    sys.exit(main())
