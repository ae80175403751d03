"""CPU time of the processes under test, read from /proc (Linux only).

On a two-core machine the server, PostgreSQL and the load generator share
the same cores, so throughput follows CPU per request: these figures say
where the CPU went for each endpoint.
"""

import os
import time
from dataclasses import dataclass
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


def _machine_busy_seconds() -> float:
    """Return the CPU seconds every process on the machine has used since boot."""
    fields = (PROC / "stat").read_text().splitlines()[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[:8])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far of each process under test (by pid), and of the whole machine."""

    processes: dict[int, tuple[str, float]]
    machine_busy_s: float


def cpu_snapshot(*, gunicorn_pid: int) -> CpuSnapshot:
    """Return the CPU seconds used so far by the gunicorn workers, PostgreSQL and this process."""
    if not PROC.is_dir():
        return CpuSnapshot(processes={}, machine_busy_s=0.0)
    machine = _machine_busy_seconds()
    own = os.getpid()
    processes: dict[int, tuple[str, float]] = {}
    for entry in PROC.iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        fields = _stat_fields(pid)
        if fields is None:
            continue
        command, parent, seconds = fields
        if pid == gunicorn_pid or parent == gunicorn_pid:
            processes[pid] = ("gunicorn", seconds)
        elif command.startswith("postgres"):
            processes[pid] = ("postgres", seconds)
        elif pid == own:
            processes[pid] = ("client", seconds)
    return CpuSnapshot(processes=processes, machine_busy_s=machine)


def cpu_used(before: CpuSnapshot, after: CpuSnapshot) -> dict[str, float]:
    """Return the CPU seconds each group used between two snapshots, and `other` for the rest.

    Counted per process: a PostgreSQL backend that ends meanwhile (gunicorn
    threads reconnect after CONN_MAX_AGE) takes its whole past with it, so
    group totals would go down; its share of the interval is lost instead,
    which is small. `other` is every other process on the machine (another
    person's test run on a shared machine): when it is large, the run is not
    comparable with one on a quiet machine.
    """
    used = {"gunicorn": 0.0, "postgres": 0.0, "client": 0.0}
    for pid, (group, seconds) in after.processes.items():
        _group, earlier = before.processes.get(pid, (group, 0.0))
        used[group] += seconds - earlier
    used["other"] = max(0.0, after.machine_busy_s - before.machine_busy_s - sum(used.values()))
    return used


def machine_busy_cores(*, seconds: float = 1.0) -> float:
    """Return how many cores the whole machine kept busy over the next `seconds`."""
    if not PROC.is_dir():
        return 0.0
    before = _machine_busy_seconds()
    time.sleep(seconds)
    return (_machine_busy_seconds() - before) / seconds


def quiet_wait(*, threshold_cores: float, timeout_s: float) -> tuple[float, float]:
    """Wait until the machine is nearly idle, up to `timeout_s`; return (busy cores, seconds waited).

    Call it while the benchmark itself is idle: on a shared machine another
    person's test run would otherwise be measured as part of one endpoint.
    """
    began = time.monotonic()
    busy = machine_busy_cores()
    while busy > threshold_cores and time.monotonic() - began < timeout_s:
        busy = machine_busy_cores()
    return round(busy, 2), round(time.monotonic() - began, 1)
