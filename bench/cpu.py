"""CPU time of the processes under test, read from /proc (Linux only).

On a two-core machine the server, PostgreSQL and the load generator share
the same cores, so throughput follows CPU per request: these figures say
where the CPU went for each endpoint.
"""

import os
from pathlib import Path

PROC = Path("/proc")


def _stat_fields(pid: int) -> tuple[str, int, float] | None:
    """Return (command, parent pid, CPU seconds) of a process, or None once it has gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command sits in parentheses and may hold spaces: split after the last ")".
    command = raw[raw.index("(") + 1 : raw.rindex(")")]
    rest = raw[raw.rindex(")") + 2 :].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return command, int(rest[1]), (int(rest[11]) + int(rest[12])) / ticks


def cpu_snapshot(*, gunicorn_pid: int) -> dict[str, float]:
    """Return CPU seconds used so far by the gunicorn workers, PostgreSQL and this process."""
    totals = {"gunicorn": 0.0, "postgres": 0.0, "client": 0.0}
    if not PROC.is_dir():
        return totals
    own = os.getpid()
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields is None:
            continue
        command, parent, seconds = fields
        if pid == gunicorn_pid or parent == gunicorn_pid:
            totals["gunicorn"] += seconds
        elif command.startswith("postgres"):
            totals["postgres"] += seconds
        elif pid == own:
            totals["client"] += seconds
    return totals


def cpu_per_request(before: dict[str, float], after: dict[str, float], requests: int) -> dict[str, float]:
    """Return the CPU milliseconds per request of each group between two snapshots."""
    if requests <= 0:
        return {}
    per_request = {name: round(1000 * (after[name] - before[name]) / requests, 3) for name in before}
    per_request["total"] = round(sum(per_request.values()), 3)
    return per_request
