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
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass
class LoadRun:
    """The raw outcome of one load run: every latency in milliseconds and every status."""

    latencies_ms: list[float]
    statuses: Counter[str]
    sent: int
    elapsed_s: float


@dataclass(frozen=True)
class LoadResult:
    """What one endpoint did under load, over one or more runs; latencies in milliseconds."""

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
    cpu_ms_per_request: dict[str, float] = field(default_factory=dict)
    other_cores: float = 0.0

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


def run_load(*, url: str, bodies: Sequence[bytes], connections: int, deadline_s: float = 120.0) -> LoadRun:
    """Send every body once to `url` over `connections` connections; stop early at `deadline_s`."""
    _check_loopback(url)
    with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
        latencies, statuses, sent, elapsed = runner.run(
            _drive(url=url, bodies=bodies, connections=connections, deadline_s=deadline_s)
        )
    return LoadRun(
        latencies_ms=[1000 * latency for latency in latencies], statuses=statuses, sent=sent, elapsed_s=elapsed
    )


def summarise(
    *,
    endpoint: str,
    connections: int,
    expected_status: int,
    runs: Sequence[LoadRun],
    cpu_seconds: dict[str, float] | None = None,
) -> LoadResult:
    """Return the figures of `runs` together: throughput over their summed time, merged percentiles.

    `cpu_seconds` is the CPU each group of processes used during the runs;
    it is reported per request sent, and `other` as cores busy on average.
    """
    statuses: Counter[str] = Counter()
    for run in runs:
        statuses.update(run.statuses)
    sent = sum(run.sent for run in runs)
    elapsed = sum(run.elapsed_s for run in runs)
    ok = statuses.get(str(expected_status), 0)
    ordered = sorted(latency for run in runs for latency in run.latencies_ms)
    cpu_seconds = cpu_seconds or {}
    ours = {name: seconds for name, seconds in cpu_seconds.items() if name != "other"}
    cpu_ms: dict[str, float] = {}
    if sent and ours:
        cpu_ms = {name: round(1000 * seconds / sent, 3) for name, seconds in ours.items()}
        cpu_ms["total"] = round(sum(cpu_ms.values()), 3)
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
        cpu_ms_per_request=cpu_ms,
        other_cores=round(max(0.0, cpu_seconds.get("other", 0.0)) / elapsed, 2) if elapsed else 0.0,
    )
