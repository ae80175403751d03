"""Submission throughput and latency through gunicorn + PostgreSQL, against two baselines.

    .venv/bin/python -m bench.submissions [--connections 32] [--requests 4000] [--workers 4]

In one run, on one gunicorn server and one fresh database, it drives:

- `bare`: `/bench/bare/`, a plain Django view answering a POST without reading it;
- `drf`:  `/bench/drf/`, a minimal DRF view validating the payload and storing one row;
- `full`: `/api/v1/responses/`, the real submission path (token, wave lock,
  validation against the instrument, claim, pending pool),

each with the same JSON bodies, then checks that the full path stored exactly
one pending submission and used exactly one invitation per 201, and that no
request failed. The table is printed and written to bench/results/.
"""

import argparse
import http.client
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any
from unittest import mock

os.environ["DJANGO_SETTINGS_MODULE"] = "bench.settings"

import django  # noqa: E402
import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from psycopg import sql  # noqa: E402

from bench.cpu import cpu_per_request, cpu_snapshot  # noqa: E402
from bench.load import LoadResult, run_load  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ENDPOINTS = {
    "bare": ("/bench/bare/", 200),
    "drf": ("/bench/drf/", 201),
    "full": ("/api/v1/responses/", 201),
}
TARGET_RATIO = 0.80
TARGET_P99_MS = 150.0
# Answers of the same member would be identical; a seeded generator keeps runs comparable.
SEED = 20260401


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--requests", type=int, default=4000, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up requests per endpoint")
    parser.add_argument("--members", type=int, default=20000, help="roster size, one invitation each")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (gthread)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (gthread or sync)")
    parser.add_argument(
        "--endpoints",
        default="bare,drf,full",
        help="comma-separated endpoints to drive, in order (default bare,drf,full)",
    )
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds before a load run gives up")
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place")
    parser.add_argument("--label", default="", help="a note stored with the results")
    arguments = parser.parse_args(argv)
    unknown = [name for name in arguments.endpoints.split(",") if name not in ENDPOINTS]
    if unknown:
        parser.error(f"unknown endpoint(s): {', '.join(unknown)}")
    if arguments.members < arguments.requests + arguments.warmup + 10:
        parser.error("--members must cover --requests + --warmup + 10 (each full request uses one invitation)")
    return arguments


# --- Database -----------------------------------------------------------------


def _maintenance_connection() -> psycopg.Connection[Any]:
    database = settings.DATABASES["default"]
    return psycopg.connect(
        dbname="postgres",
        host=database.get("HOST") or None,
        port=database.get("PORT") or None,
        user=database.get("USER") or None,
        password=database.get("PASSWORD") or None,
        autocommit=True,
    )


def _bench_database_name() -> str:
    name = str(settings.DATABASES["default"]["NAME"])
    # This script drops the database: never one whose name does not say it is for benchmarks.
    if not name.endswith("_bench"):
        raise SystemExit(f"Refusing to recreate database {name!r}: its name must end in '_bench'.")
    return name


def database_recreate() -> None:
    name = _bench_database_name()
    with _maintenance_connection() as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        connection.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def database_drop() -> None:
    from django.db import connections

    connections.close_all()
    name = _bench_database_name()
    with _maintenance_connection() as connection:
        connection.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


# --- Fixture ------------------------------------------------------------------


def fixture_create(*, members: int) -> tuple[int, list[str]]:
    """Create a coalition, its roster and an open wave; return the wave id and every token."""
    from django.core.management import call_command

    from surveys import services, tasks
    from surveys.models import Invitation, Member
    from surveys.tokens import token_for_invitation

    call_command("migrate", verbosity=0, interactive=False)
    instrument, _created = services.instrument_load_default()
    coalition = services.coalition_create(slug="bench", name="Bench coalition")
    sectors = list(coalition.sectors.order_by("position"))
    Member.objects.bulk_create(
        [
            Member(
                coalition=coalition,
                email=f"member{index:06d}@bench.invalid",
                sector=sectors[index % len(sectors)],
                language="en",
            )
            for index in range(members)
        ],
        batch_size=2000,
    )
    wave = services.wave_create(coalition=coalition, label="bench", instrument=instrument)
    # Invitation emails are not part of the submission path; rendering 20 000 of them is skipped.
    with mock.patch.object(tasks.send_invitations, "delay"):
        services.wave_open(wave_id=wave.pk)
    invitation_ids = list(Invitation.objects.filter(wave=wave).values_list("id", flat=True))
    tokens = [token_for_invitation(invitation_id) for invitation_id in invitation_ids]
    random.Random(SEED).shuffle(tokens)
    return wave.pk, tokens


def answers_build(*, wave_id: int, count: int) -> list[dict[str, Any]]:
    """Return `count` complete, valid answer sets: every item, the pair matrix, every dimension."""
    from surveys import selectors
    from surveys.instruments import NO_RELATIONSHIP, NOT_APPLICABLE, PAIR_PREFIX, PREFER_NOT_TO_SAY
    from surveys.models import Wave

    wave = Wave.objects.get(pk=wave_id)
    spec = selectors.instrument_spec(instrument_id=wave.instrument_id)
    sector_slugs = [sector["slug"] for sector in wave.sectors_snapshot]
    generator = random.Random(SEED)
    answer_sets = []
    for _ in range(count):
        answers: dict[str, Any] = {}
        for slug, question in spec.questions.items():
            if question.type == "scale":
                answers[slug] = NOT_APPLICABLE if generator.random() < 0.05 else generator.randint(1, 5)
            elif question.type == "pair_matrix":
                for sector in sector_slugs:
                    rating = NO_RELATIONSHIP if generator.random() < 0.2 else generator.randint(1, 5)
                    answers[f"{PAIR_PREFIX}{sector}"] = rating
            elif question.type == "single":
                answers[slug] = generator.choice(question.option_slugs)
            elif question.type == "multiple":
                options = [option for option in question.option_slugs if option != PREFER_NOT_TO_SAY]
                most = min(question.max_choices or 2, len(options))
                answers[slug] = generator.sample(options, generator.randint(1, most))
            # Free text is disabled in the default coalition: sending it would be refused.
        answer_sets.append(answers)
    return answer_sets


def bodies_encode(tokens: Sequence[str], answer_sets: Sequence[dict[str, Any]]) -> list[bytes]:
    return [
        json.dumps({"token": token, "answers": answers}, separators=(",", ":")).encode()
        for token, answers in zip(tokens, answer_sets, strict=True)
    ]


# --- Server -------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def gunicorn_command(*, port: int, workers: int, threads: int, worker_class: str, log: Path) -> list[str]:
    command = [
        str(Path(sys.executable).parent / "gunicorn"),
        "config.wsgi:application",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--log-level",
        "warning",
        "--error-logfile",
        str(log),
    ]
    if worker_class == "gthread":
        command += ["--threads", str(threads)]
    return command


def gunicorn_start(command: list[str]) -> subprocess.Popen[bytes]:
    environment = {**os.environ, "DJANGO_SETTINGS_MODULE": "bench.settings"}
    return subprocess.Popen(command, cwd=BASE_DIR, env=environ_without_database_url(environment))


def environ_without_database_url(environment: dict[str, str]) -> dict[str, str]:
    # bench.settings reads BENCH_DATABASE_URL; a DATABASE_URL left in the shell is irrelevant.
    return {key: value for key, value in environment.items() if key != "DATABASE_URL"}


def gunicorn_wait_ready(process: subprocess.Popen[bytes], port: int, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited with status {process.returncode} before serving.")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("POST", "/bench/bare/", body=b"{}", headers={"Content-Type": "application/json"})
            if connection.getresponse().status == 200:
                connection.close()
                return
            connection.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit("gunicorn did not answer within 30 s.")


def gunicorn_stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- Measurement --------------------------------------------------------------


def _measure(
    *,
    name: str,
    port: int,
    bodies: Sequence[bytes],
    warmup_bodies: Sequence[bytes],
    connections: int,
    deadline: float,
    gunicorn_pid: int,
) -> tuple[LoadResult, LoadResult]:
    path, expected_status = ENDPOINTS[name]
    url = f"http://127.0.0.1:{port}{path}"
    warm = run_load(
        endpoint=f"{name}-warmup",
        url=url,
        bodies=warmup_bodies,
        connections=connections,
        expected_status=expected_status,
        deadline_s=deadline,
    )
    time.sleep(1)
    before = cpu_snapshot(gunicorn_pid=gunicorn_pid)
    result = run_load(
        endpoint=name,
        url=url,
        bodies=bodies,
        connections=connections,
        expected_status=expected_status,
        deadline_s=deadline,
    )
    after = cpu_snapshot(gunicorn_pid=gunicorn_pid)
    result = LoadResult(**{**result.as_dict(), "cpu_ms_per_request": cpu_per_request(before, after, result.sent)})
    return warm, result


def queries_per_request(*, tokens: Sequence[str], body_answers: dict[str, Any]) -> dict[str, Any]:
    """Submit once to each endpoint in-process and return the SQL each one ran."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    report: dict[str, Any] = {}
    for (name, (path, expected_status)), token in zip(ENDPOINTS.items(), tokens, strict=True):
        payload = {"token": token, "answers": body_answers}
        with CaptureQueriesContext(connection) as captured:
            response = client.post(path, data=payload, content_type="application/json")
        report[name] = {
            "status": response.status_code,
            "expected_status": expected_status,
            "query_count": len(captured.captured_queries),
            "queries": [query["sql"][:300] for query in captured.captured_queries],
        }
    return report


def verification(*, wave_id: int, full_ok: int, drf_ok: int, results: Sequence[LoadResult]) -> dict[str, Any]:
    from bench.models import BaselineSubmission
    from surveys.models import Invitation, PendingSubmission

    pending = PendingSubmission.objects.filter(wave_id=wave_id).count()
    used = Invitation.objects.filter(wave_id=wave_id, is_used=True).count()
    baseline_rows = BaselineSubmission.objects.count()
    errors = {result.endpoint: result.errors for result in results if result.errors}
    checks = {
        "full_accepted": full_ok,
        "pending_submissions": pending,
        "invitations_used": used,
        "drf_accepted": drf_ok,
        "baseline_rows": baseline_rows,
        "errors": errors,
    }
    checks["is_ok"] = pending == full_ok and used == full_ok and baseline_rows == drf_ok and not errors
    return checks


# --- Report -------------------------------------------------------------------


def machine_describe() -> dict[str, Any]:
    from django.db import connection

    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres_version = cursor.fetchone()[0]
        postgres_settings = {}
        for name in ("max_connections", "shared_buffers", "synchronous_commit", "fsync", "wal_level"):
            cursor.execute(f"SHOW {name}")
            postgres_settings[name] = cursor.fetchone()[0]
    return {
        "cpus": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgresql": postgres_version,
        "postgresql_settings": postgres_settings,
        "packages": {
            name: metadata.version(name)
            for name in ("Django", "djangorestframework", "gunicorn", "psycopg", "aiohttp", "uvloop")
            if _is_installed(name)
        },
    }


def _is_installed(name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


def table_format(results: Sequence[LoadResult]) -> str:
    header = (
        f"{'endpoint':<8} {'ok':>6} {'errors':>6} {'req/s':>8} {'p50 ms':>8} {'p90 ms':>8} "
        f"{'p99 ms':>8} {'max ms':>8} {'CPU ms/req (django+pg+client)':>31}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        cpu = result.cpu_ms_per_request
        cpu_text = (
            f"{cpu.get('gunicorn', 0):.2f}+{cpu.get('postgres', 0):.2f}+{cpu.get('client', 0):.2f}"
            f"={cpu.get('total', 0):.2f}"
        )
        lines.append(
            f"{result.endpoint:<8} {result.ok:>6} {result.errors:>6} {result.throughput_rps:>8.1f} "
            f"{result.p50_ms:>8.1f} {result.p90_ms:>8.1f} {result.p99_ms:>8.1f} {result.max_ms:>8.1f} "
            f"{cpu_text:>31}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    endpoints = arguments.endpoints.split(",")
    started_at = datetime.now(tz=UTC)
    RESULTS_DIR.mkdir(exist_ok=True)
    stamp = started_at.strftime("%Y%m%dT%H%M%SZ")

    print(f"Recreating database {settings.DATABASES['default']['NAME']} …", flush=True)
    database_recreate()
    django.setup()
    from django.db import connections

    setup_began = time.perf_counter()
    wave_id, tokens = fixture_create(members=arguments.members)
    warmup_tokens = tokens[: arguments.warmup]
    measured_tokens = tokens[arguments.warmup : arguments.warmup + arguments.requests]
    spare_tokens = tokens[arguments.warmup + arguments.requests :]
    answer_sets = answers_build(wave_id=wave_id, count=arguments.requests + arguments.warmup)
    warmup_bodies = bodies_encode(warmup_tokens, answer_sets[: arguments.warmup])
    bodies = bodies_encode(measured_tokens, answer_sets[arguments.warmup :])
    print(
        f"Fixture: {arguments.members} members, wave {wave_id}, {len(answer_sets[0])} answers per "
        f"submission, {len(bodies[0])} bytes per body ({time.perf_counter() - setup_began:.1f} s).",
        flush=True,
    )
    machine = machine_describe()
    # Gunicorn's threads open their own connections; this process keeps none open meanwhile.
    connections.close_all()

    port = _free_port()
    log = RESULTS_DIR / f"gunicorn-{stamp}.log"
    command = gunicorn_command(
        port=port,
        workers=arguments.workers,
        threads=arguments.threads,
        worker_class=arguments.worker_class,
        log=log,
    )
    server = gunicorn_start(command)
    warmups: list[LoadResult] = []
    results: list[LoadResult] = []
    try:
        gunicorn_wait_ready(server, port)
        for name in endpoints:
            print(f"Driving {name}: {arguments.warmup} warm-up + {arguments.requests} requests …", flush=True)
            warm, result = _measure(
                name=name,
                port=port,
                bodies=bodies,
                warmup_bodies=warmup_bodies,
                connections=arguments.connections,
                deadline=arguments.deadline,
                gunicorn_pid=server.pid,
            )
            warmups.append(warm)
            results.append(result)
            time.sleep(2)
    finally:
        gunicorn_stop(server)

    by_name = {result.endpoint: result for result in results}
    warm_by_name = {warm.endpoint.removesuffix("-warmup"): warm for warm in warmups}
    checks = verification(
        wave_id=wave_id,
        full_ok=(by_name["full"].ok + warm_by_name["full"].ok) if "full" in by_name else 0,
        drf_ok=(by_name["drf"].ok + warm_by_name["drf"].ok) if "drf" in by_name else 0,
        results=[*warmups, *results],
    )
    queries = queries_per_request(tokens=spare_tokens[:3], body_answers=answer_sets[0])
    ratio = None
    target_met = None
    if "full" in by_name and "drf" in by_name and by_name["drf"].throughput_rps:
        ratio = round(by_name["full"].throughput_rps / by_name["drf"].throughput_rps, 3)
        target_met = ratio >= TARGET_RATIO and by_name["full"].p99_ms < TARGET_P99_MS

    report = {
        "started_at": started_at.isoformat(),
        "label": arguments.label,
        "command": " ".join(sys.argv),
        "machine": machine,
        "gunicorn": {
            "command": " ".join(command[1:]).replace(str(log), "<log>"),
            "workers": arguments.workers,
            "worker_class": arguments.worker_class,
            "threads": arguments.threads if arguments.worker_class == "gthread" else 1,
        },
        "load": {
            "connections": arguments.connections,
            "requests": arguments.requests,
            "warmup": arguments.warmup,
            "members": arguments.members,
            "answers_per_submission": len(answer_sets[0]),
            "body_bytes": len(bodies[0]),
        },
        "results": [result.as_dict() for result in results],
        "warmups": [warm.as_dict() for warm in warmups],
        "ratio_full_to_drf": ratio,
        "target": {"ratio": TARGET_RATIO, "p99_ms": TARGET_P99_MS, "is_met": target_met},
        "verification": checks,
        "queries_per_request": queries,
    }
    output = RESULTS_DIR / f"submissions-{stamp}.json"
    output.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(table_format(results))
    print()
    if ratio is not None:
        verdict = "met" if target_met else "NOT met"
        print(
            f"full / drf throughput: {ratio:.1%} (target ≥ {TARGET_RATIO:.0%}); full p99 "
            f"{by_name['full'].p99_ms:.1f} ms (target < {TARGET_P99_MS:.0f} ms): target {verdict}."
        )
    print(
        "Queries per request: "
        + ", ".join(f"{name} {entry['query_count']}" for name, entry in queries.items())
    )
    print(f"Verification: {'ok' if checks['is_ok'] else 'FAILED'} {json.dumps(checks)}")
    print(f"Written to {output.relative_to(BASE_DIR)}")
    if not arguments.keep_db:
        database_drop()
    return 0 if checks["is_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
