"""A bounded closed-loop HTTP load generator for loopback servers.

`connections` workers share one keep-alive connection pool of that size; each
sends its next POST as soon as the previous answer has been read, until every
body has been sent once or `deadline` seconds have passed. Bodies are encoded
before the clock starts, so the client spends its CPU on HTTP only.

It refuses any host but the loopback: it exists to measure a server started
on this machine.
"""

import asyncio
import math
import os
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class LoadResult:
    """What one endpoint did under load; latencies in milliseconds."""

    endpoint: str
    connections: int
    sent: int
    ok: int
    errors: int
    statuses: dict[str, int]
    duration_s: float
    throughput_rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float
    client_cpu_s: float
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


def _check_loopback(url: str) -> None:
    host = urlsplit(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise ValueError(f"The load generator only targets the loopback, not {host!r}.")


async def _drive(
    *,
    url: str,
    bodies: Sequence[bytes],
    connections: int,
    expected_status: int,
    deadline_s: float,
) -> tuple[list[float], Counter[str], int, float]:
    latencies: list[float] = []
    statuses: Counter[str] = Counter()
    next_index = 0
    sent = 0
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=30)
    started = time.perf_counter()
    stop_at = started + deadline_s

    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def worker() -> None:
            nonlocal next_index, sent
            while next_index < len(bodies) and time.perf_counter() < stop_at:
                body = bodies[next_index]
                next_index += 1
                sent += 1
                begin = time.perf_counter()
                try:
                    async with session.post(url, data=body, headers=headers) as response:
                        await response.read()
                        statuses[str(response.status)] += 1
                except (aiohttp.ClientError, TimeoutError) as error:
                    statuses[type(error).__name__] += 1
                    continue
                latencies.append(time.perf_counter() - begin)

        await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - started
    return latencies, statuses, sent, elapsed


def _event_loop_factory() -> Any:
    try:
        import uvloop
    except ImportError:  # The plain loop works; uvloop only leaves more CPU to the server.
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def run_load(
    *,
    endpoint: str,
    url: str,
    bodies: Sequence[bytes],
    connections: int,
    expected_status: int,
    deadline_s: float = 120.0,
) -> LoadResult:
    """Send every body once to `url` over `connections` connections and return the figures."""
    _check_loopback(url)
    cpu_before = os.times()
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        latencies, statuses, sent, elapsed = runner.run(
            _drive(
                url=url,
                bodies=bodies,
                connections=connections,
                expected_status=expected_status,
                deadline_s=deadline_s,
            )
        )
    cpu_after = os.times()
    ok = statuses.get(str(expected_status), 0)
    ordered = sorted(latency * 1000 for latency in latencies)
    return LoadResult(
        endpoint=endpoint,
        connections=connections,
        sent=sent,
        ok=ok,
        errors=sent - ok,
        statuses=dict(sorted(statuses.items())),
        duration_s=round(elapsed, 3),
        throughput_rps=round(ok / elapsed, 1) if elapsed else 0.0,
        p50_ms=round(percentile(ordered, 0.50), 2),
        p90_ms=round(percentile(ordered, 0.90), 2),
        p99_ms=round(percentile(ordered, 0.99), 2),
        max_ms=round(ordered[-1], 2) if ordered else 0.0,
        mean_ms=round(sum(ordered) / len(ordered), 2) if ordered else 0.0,
        client_cpu_s=round(
            (cpu_after.user - cpu_before.user) + (cpu_after.system - cpu_before.system), 3
        ),
    )
