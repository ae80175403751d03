"""Submission throughput and latency through gunicorn + PostgreSQL, against two baselines.

    .venv/bin/python -m bench.submissions [--connections 32] [--requests 4000] [--rounds 2] [--workers 3]

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

from bench.cpu import cpu_snapshot, cpu_used, quiet_wait  # noqa: E402
from bench.load import LoadResult, LoadRun, run_load, summarise  # noqa: E402

BASE_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
ENDPOINTS = {
    "bare": ("/bench/bare/", 200),
    "drf": ("/bench/drf/", 201),
    "full": ("/api/v1/responses/", 201),
}
# Endpoints that claim an invitation: each of their requests needs a token of its own.
CLAIMING = frozenset({"full"})
TARGET_RATIO = 0.80
TARGET_P99_MS = 150.0
# Answers of the same member would be identical; a seeded generator keeps runs comparable.
SEED = 20260401


def _parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections (default 32)")
    parser.add_argument("--requests", type=int, default=4000, help="measured requests per endpoint")
    parser.add_argument("--warmup", type=int, default=500, help="warm-up requests per endpoint")
    parser.add_argument("--rounds", type=int, default=2, help="measured runs of each endpoint, interleaved")
    parser.add_argument(
        "--members", type=int, default=0, help="roster size, one invitation each (default: as many as needed)"
    )
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes (default 3)")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker, gthread (default 4)")
    parser.add_argument("--worker-class", default="gthread", help="gunicorn worker class (gthread or sync)")
    parser.add_argument(
        "--endpoints",
        default="bare,drf,full",
        help="comma-separated endpoints to drive, in order (default bare,drf,full)",
    )
    parser.add_argument("--deadline", type=float, default=120.0, help="seconds before a load run gives up")
    parser.add_argument(
        "--quiet-cores",
        type=float,
        default=0.15,
        help="before each run, wait until other processes keep at most this many cores busy (default 0.15)",
    )
    parser.add_argument(
        "--quiet-timeout", type=float, default=90.0, help="longest wait for a quiet machine, in seconds"
    )
    parser.add_argument(
        "--server-side-binding",
        action="store_true",
        help="experiment: psycopg server-side binding (prepared statements) for every endpoint",
    )
    parser.add_argument("--keep-db", action="store_true", help="leave the bench database in place")
    parser.add_argument("--label", default="", help="a note stored with the results")
    arguments = parser.parse_args(argv)
    unknown = [name for name in arguments.endpoints.split(",") if name not in ENDPOINTS]
    if unknown:
        parser.error(f"unknown endpoint(s): {', '.join(unknown)}")
    claiming = len([name for name in arguments.endpoints.split(",") if name in CLAIMING])
    needed = claiming * (arguments.warmup + arguments.rounds * arguments.requests) + _spare(arguments)
    if not arguments.members:
        arguments.members = max(needed, 20000)
    if arguments.members < needed:
        parser.error(f"--members must be at least {needed}: each claiming request uses one invitation")
    return arguments


def _spare(arguments: argparse.Namespace) -> int:
    """Tokens nobody claims: the bodies of the non-claiming endpoints, and the query count."""
    return int(max(arguments.requests, arguments.warmup)) + len(ENDPOINTS)


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
    from django.contrib.auth.models import User
    from django.core.management import call_command

    from surveys import services, tasks
    from surveys.attestation import roster_attest
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
    admin = User.objects.get_or_create(username="bench-admin", defaults={"is_superuser": True})[0]
    roster_attest(wave_id=wave.pk, by=admin, revision=coalition.roster_revision)
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


# --- Measurement ---------------------------------------------------------------


def queries_per_request(*, tokens: Sequence[str], answers: dict[str, Any]) -> dict[str, Any]:
    """Submit once to each endpoint in-process and return the SQL each one ran."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client(HTTP_HOST="127.0.0.1")
    report: dict[str, Any] = {}
    for (name, (path, expected_status)), token in zip(ENDPOINTS.items(), tokens, strict=False):
        payload = {"token": token, "answers": answers}
        with CaptureQueriesContext(connection) as captured:
            response = client.post(path, data=payload, content_type="application/json")
        report[name] = {
            "status": response.status_code,
            "expected_status": expected_status,
            "query_count": len(captured.captured_queries),
            "queries": [query["sql"][:300] for query in captured.captured_queries],
        }
    return report


def verification(*, wave_id: int, accepted: dict[str, int]) -> dict[str, Any]:
    """Check the database against what the load runs were told: one row per acceptance."""
    from bench.models import BaselineSubmission
    from surveys.models import Invitation, PendingSubmission

    claimed = sum(count for name, count in accepted.items() if name in CLAIMING)
    checks: dict[str, Any] = {
        "accepted": accepted,
        "claiming_accepted": claimed,
        "pending_submissions": PendingSubmission.objects.filter(wave_id=wave_id).count(),
        "invitations_used": Invitation.objects.filter(wave_id=wave_id, is_used=True).count(),
        "drf_accepted": accepted.get("drf", 0),
        "baseline_rows": BaselineSubmission.objects.count(),
    }
    checks["is_ok"] = (
        checks["pending_submissions"] == claimed
        and checks["invitations_used"] == claimed
        and checks["baseline_rows"] == checks["drf_accepted"]
    )
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
        f"{'endpoint':<11} {'ok':>6} {'errors':>6} {'req/s':>7} {'p50 ms':>7} {'p90 ms':>7} "
        f"{'p99 ms':>7} {'max ms':>7}  {'CPU ms/request: django+pg+client=total':<40} {'other':>5}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        cpu = result.cpu_ms_per_request
        cpu_text = (
            f"{cpu.get('gunicorn', 0):.2f}+{cpu.get('postgres', 0):.2f}+{cpu.get('client', 0):.2f}"
            f"={cpu.get('total', 0):.2f}"
        )
        lines.append(
            f"{result.endpoint:<11} {result.ok:>6} {result.errors:>6} {result.throughput_rps:>7.1f} "
            f"{result.p50_ms:>7.1f} {result.p90_ms:>7.1f} {result.p99_ms:>7.1f} {result.max_ms:>7.1f}  "
            f"{cpu_text:<40} {result.other_cores:>5.2f}"
        )
    return "\n".join(lines)


def _verdict(results: dict[str, LoadResult], candidate: str) -> tuple[float | None, bool | None]:
    if candidate not in results or "drf" not in results or not results["drf"].throughput_rps:
        return None, None
    ratio = round(results[candidate].throughput_rps / results["drf"].throughput_rps, 3)
    return ratio, ratio >= TARGET_RATIO and results[candidate].p99_ms < TARGET_P99_MS


def _round_result(entry: dict[str, Any]) -> LoadResult:
    extra = ("round", "busy_cores_before", "waited_for_quiet_s")
    fields = {key: value for key, value in entry.items() if key not in extra}
    return LoadResult(**{**fields, "endpoint": f"{entry['endpoint']} #{entry['round']}"})


def _rotated(names: list[str], by: int) -> list[str]:
    shift = by % len(names)
    return names[shift:] + names[:shift]


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parse_arguments(argv)
    if arguments.server_side_binding:
        # Read by bench.settings, here and in gunicorn's workers.
        os.environ["BENCH_SERVER_SIDE_BINDING"] = "true"
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
    spare = tokens[-_spare(arguments) :]
    unclaimed = iter(tokens[: -_spare(arguments)])

    def claimable(count: int) -> list[str]:
        return [next(unclaimed) for _ in range(count)]

    answer_sets = answers_build(wave_id=wave_id, count=max(arguments.requests, arguments.warmup))

    def bodies_for(name: str, count: int) -> list[bytes]:
        # Every endpoint gets the same answers; only the claiming ones spend tokens.
        chosen = claimable(count) if name in CLAIMING else spare[:count]
        return bodies_encode(chosen, answer_sets[:count])

    print(
        f"Fixture: {arguments.members} members, {len(answer_sets[0])} answers and "
        f"{len(bodies_encode(spare[:1], answer_sets[:1])[0])} bytes per submission "
        f"({time.perf_counter() - setup_began:.1f} s).",
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
    runs: dict[str, list[LoadRun]] = {name: [] for name in endpoints}
    warmups: dict[str, LoadRun] = {}
    cpu: dict[str, dict[str, float]] = {name: {} for name in endpoints}
    per_round: list[dict[str, Any]] = []
    try:
        gunicorn_wait_ready(server, port)
        for name in endpoints:
            print(f"Warming up {name} with {arguments.warmup} requests …", flush=True)
            url = f"http://127.0.0.1:{port}{ENDPOINTS[name][0]}"
            warmups[name] = run_load(
                url=url,
                bodies=bodies_for(name, arguments.warmup),
                connections=arguments.connections,
                deadline_s=arguments.deadline,
            )
        for round_number in range(arguments.rounds):
            # Interleaved and rotated, so that a neighbour's burst or a growing table
            # does not always land on the same endpoint.
            for name in _rotated(endpoints, round_number):
                busy, waited = quiet_wait(threshold_cores=arguments.quiet_cores, timeout_s=arguments.quiet_timeout)
                print(
                    f"Round {round_number + 1}: {arguments.requests} requests to {name} "
                    f"(machine busy {busy:.2f} cores after {waited:.0f} s) …",
                    flush=True,
                )
                bodies = bodies_for(name, arguments.requests)
                url = f"http://127.0.0.1:{port}{ENDPOINTS[name][0]}"
                before = cpu_snapshot(gunicorn_pid=server.pid)
                run = run_load(url=url, bodies=bodies, connections=arguments.connections, deadline_s=arguments.deadline)
                used = cpu_used(before, cpu_snapshot(gunicorn_pid=server.pid))
                runs[name].append(run)
                for group, seconds in used.items():
                    cpu[name][group] = cpu[name].get(group, 0.0) + seconds
                single = summarise(
                    endpoint=name,
                    connections=arguments.connections,
                    expected_status=ENDPOINTS[name][1],
                    runs=[run],
                    cpu_seconds=used,
                )
                per_round.append(
                    {
                        "round": round_number + 1,
                        **single.as_dict(),
                        "busy_cores_before": busy,
                        "waited_for_quiet_s": waited,
                    }
                )
    finally:
        gunicorn_stop(server)

    results = {
        name: summarise(
            endpoint=name,
            connections=arguments.connections,
            expected_status=ENDPOINTS[name][1],
            runs=runs[name],
            cpu_seconds=cpu[name],
        )
        for name in endpoints
    }
    warmup_results = {
        name: summarise(
            endpoint=f"{name} (warm-up)",
            connections=arguments.connections,
            expected_status=ENDPOINTS[name][1],
            runs=[run],
        )
        for name, run in warmups.items()
    }
    accepted = {name: results[name].ok + warmup_results[name].ok for name in endpoints}
    checks = verification(wave_id=wave_id, accepted=accepted)
    failures = {
        result.endpoint: result.statuses for result in [*results.values(), *warmup_results.values()] if result.errors
    }
    checks["failed_requests"] = failures
    checks["is_ok"] = checks["is_ok"] and not failures
    queries = queries_per_request(tokens=spare[-len(ENDPOINTS) :], answers=answer_sets[0])

    verdicts = {name: _verdict(results, name) for name in endpoints if name in CLAIMING}
    report = {
        "started_at": started_at.isoformat(),
        "label": arguments.label,
        "command": " ".join(["python -m bench.submissions", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine,
        "gunicorn": {
            "command": " ".join(command[1:]).replace(str(log), "<log>"),
            "workers": arguments.workers,
            "worker_class": arguments.worker_class,
            "threads": arguments.threads if arguments.worker_class == "gthread" else 1,
        },
        "experiments": {
            "server_side_binding": arguments.server_side_binding,
        },
        "load": {
            "connections": arguments.connections,
            "requests_per_round": arguments.requests,
            "rounds": arguments.rounds,
            "warmup": arguments.warmup,
            "members": arguments.members,
            "answers_per_submission": len(answer_sets[0]),
            "body_bytes": len(bodies_encode(spare[:1], answer_sets[:1])[0]),
        },
        "results": [result.as_dict() for result in results.values()],
        "rounds": per_round,
        "warmups": [result.as_dict() for result in warmup_results.values()],
        "ratio_to_drf": {name: ratio for name, (ratio, _met) in verdicts.items()},
        "target": {
            "ratio": TARGET_RATIO,
            "p99_ms": TARGET_P99_MS,
            "is_met": {name: met for name, (_ratio, met) in verdicts.items()},
        },
        "verification": checks,
        "queries_per_request": queries,
    }
    output = RESULTS_DIR / f"submissions-{stamp}.json"
    output.write_text(json.dumps(report, indent=2) + "\n")

    print()
    print(f"All rounds ({arguments.rounds} × {arguments.requests} requests, {arguments.connections} connections):")
    print(table_format(list(results.values())))
    print()
    print("Each round:")
    print(table_format([_round_result(entry) for entry in per_round]))
    print()
    for name, (ratio, met) in verdicts.items():
        if ratio is None:
            continue
        print(
            f"{name} / drf throughput: {ratio:.1%} (target ≥ {TARGET_RATIO:.0%}); {name} p99 "
            f"{results[name].p99_ms:.1f} ms (target < {TARGET_P99_MS:.0f} ms): "
            f"target {'met' if met else 'NOT met'}."
        )
    print("Queries per request: " + ", ".join(f"{name} {entry['query_count']}" for name, entry in queries.items()))
    print(f"Verification: {'ok' if checks['is_ok'] else 'FAILED'} {json.dumps(checks)}")
    print(f"Written to {output.relative_to(BASE_DIR)}")
    if not arguments.keep_db:
        database_drop()
    return 0 if checks["is_ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
