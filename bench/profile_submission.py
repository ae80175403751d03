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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--endpoint", choices=sorted(submissions.ENDPOINTS), default="full")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative", help="pstats sort key (cumulative, tottime)")
    parser.add_argument("--keep-db", action="store_true")
    arguments = parser.parse_args(argv)

    submissions.database_recreate()
    django.setup()
    from django.core.wsgi import get_wsgi_application
    from django.db import connection, reset_queries

    wave_id, tokens = submissions.fixture_create(members=arguments.requests + 200)
    answer_sets = submissions.answers_build(wave_id=wave_id, count=arguments.requests + 100)
    bodies = submissions.bodies_encode(tokens[: len(answer_sets)], answer_sets)
    warmup, measured = bodies[:100], bodies[100:]
    path, expected_status = submissions.ENDPOINTS[arguments.endpoint]
    application = get_wsgi_application()
    for body in warmup:
        assert _call(application, path, body).startswith(str(expected_status))

    # Query count and SQL time from one request with the debug cursor on.
    connection.force_debug_cursor = True
    reset_queries()
    _call(application, path, measured[0])
    queries = list(connection.queries)
    connection.force_debug_cursor = False

    profiler = cProfile.Profile()
    began = time.perf_counter()
    profiler.enable()
    for body in measured[1:]:
        _call(application, path, body)
    profiler.disable()
    elapsed = time.perf_counter() - began
    count = len(measured) - 1

    print(f"{arguments.endpoint}: {count} requests, {1000 * elapsed / count:.3f} ms each under cProfile")
    print(f"{len(queries)} queries, {sum(float(query['time']) for query in queries) * 1000:.2f} ms of SQL:")
    for query in queries:
        print(f"  {float(query['time']) * 1000:6.2f} ms  {query['sql'][:110]}")
    stream = io.StringIO()
    pstats.Stats(profiler, stream=stream).sort_stats(arguments.sort).print_stats(arguments.top)
    print(stream.getvalue())

    began = time.perf_counter()
    extra = submissions.bodies_encode(tokens[len(answer_sets) : len(answer_sets) + 100], answer_sets[:100])
    for body in extra if arguments.endpoint == "full" else measured[:100]:
        _call(application, path, body)
    print(f"Without the profiler: {1000 * (time.perf_counter() - began) / 100:.3f} ms per request (100)")
    if not arguments.keep_db:
        submissions.database_drop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
