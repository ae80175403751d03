"""Where a submission's time goes: in-process, one request at a time, through the WSGI handler.

    .venv/bin/python -m bench.profile_submission [--requests 1000] [--endpoint full] [--top 30]

Builds the same fixture as `bench.submissions` on the bench database, then
calls the project's WSGI application directly (no gunicorn, no network, no
concurrency) for each body and prints the mean wall time per request, the
queries per request, and a cProfile of the whole loop. The database is
dropped afterwards unless --keep-db.
"""

import argparse
import cProfile
import io
import pstats
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any
from unittest import mock

import django  # noqa: E402

from bench import submissions  # sets DJANGO_SETTINGS_MODULE first

WsgiApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def _environ(path: str, body: bytes) -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
    }


def _call(application: WsgiApplication, path: str, body: bytes) -> str:
    status: list[str] = []

    def start_response(line: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        status.append(line)

    chunks = application(_environ(path, body), start_response)
    b"".join(chunks)
    close = getattr(chunks, "close", None)
    if close is not None:
        close()
    return status[0]


class StepTimer:
    """Accumulate the wall time spent in named callables while they are patched in."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            began = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - began

        return timed


def full_path_steps(application: WsgiApplication, bodies: Sequence[bytes]) -> dict[str, float]:
    """Return the mean milliseconds per request of each step of `services.response_submit`."""
    from django.db import connections

    from surveys import services, submission
    from surveys.answers import answers_clean

    timer = StepTimer()
    database = connections["default"]
    patches = [
        mock.patch.object(
            submission,
            "target_find",
            timer.wrap("1 target_find (SELECT join + shared wave lock)", submission.target_find),
        ),
        mock.patch.object(
            submission, "wave_context", timer.wrap("2 wave_context (per-process cache)", submission.wave_context)
        ),
        mock.patch(
            "surveys.services.answers_clean",
            timer.wrap("3 answers_clean (validation)", answers_clean),
        ),
        mock.patch.object(
            submission,
            "claim_and_store",
            timer.wrap("4 claim_and_store (UPDATE … RETURNING + INSERT, one statement)", submission.claim_and_store),
        ),
        mock.patch.object(database, "commit", timer.wrap("5 COMMIT", database.commit)),
        mock.patch.object(
            services, "response_submit", timer.wrap("response_submit (all of the above)", services.response_submit)
        ),
    ]
    for patch in patches:
        patch.start()
    try:
        began = time.perf_counter()
        for body in bodies:
            _call(application, "/api/v1/responses/", body)
        total = time.perf_counter() - began
    finally:
        for patch in reversed(patches):
            patch.stop()
    steps = {name: 1000 * seconds / len(bodies) for name, seconds in sorted(timer.seconds.items())}
    steps["whole request (WSGI, middleware, DRF, service)"] = 1000 * total / len(bodies)
    return steps


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000, help="requests profiled, and as many timed")
    parser.add_argument("--endpoint", choices=sorted(submissions.ENDPOINTS), default="full")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    parser.add_argument("--keep-db", action="store_true")
    arguments = parser.parse_args(argv)

    submissions.database_recreate()
    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection, reset_queries

    warmup_count = 100
    count = warmup_count + 1 + 3 * arguments.requests
    wave_id, tokens = submissions.fixture_create(members=count + 10)
    answer_sets = submissions.answers_build(wave_id=wave_id, count=count)
    bodies = submissions.bodies_encode(tokens[:count], answer_sets)
    warmup = bodies[:warmup_count]
    first = bodies[warmup_count]
    timed, stepped, profiled = (
        bodies[warmup_count + 1 + index * arguments.requests : warmup_count + 1 + (index + 1) * arguments.requests]
        for index in range(3)
    )
    path, expected_status = submissions.ENDPOINTS[arguments.endpoint]
    application = get_wsgi_application()
    for body in warmup:
        assert _call(application, path, body).startswith(str(expected_status))

    connection.force_debug_cursor = True
    reset_queries()
    _call(application, path, first)
    queries = list(connection.queries)
    connection.force_debug_cursor = False
    print(f"{arguments.endpoint}: {len(queries)} statements per request:")
    for query in queries:
        print(f"  {query['sql'][:120]}")

    began = time.perf_counter()
    for body in timed:
        _call(application, path, body)
    print(
        f"\nOne request at a time, in-process, no profiler: "
        f"{1000 * (time.perf_counter() - began) / len(timed):.3f} ms per request ({len(timed)})"
    )

    if arguments.endpoint == "full":
        print("\nSteps of the full path (mean wall time per request, no profiler):")
        for name, milliseconds in full_path_steps(application, stepped).items():
            print(f"  {milliseconds:7.3f} ms  {name}")

    profiler = cProfile.Profile()
    profiler.enable()
    for body in profiled:
        _call(application, path, body)
    profiler.disable()
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats(arguments.sort).print_stats(arguments.top)
    print(f"\ncProfile of {len(profiled)} requests:")
    print(stream.getvalue())
    if not arguments.keep_db:
        submissions.database_drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
