"""Time the export file writers and measure their peak memory on a synthetic frame.

    .venv/bin/python -m bench.exports                       # 20 000 and 200 000 rows, 3 repeats
    .venv/bin/python -m bench.exports --rows 200000 --repeat 1

The frame has 60 columns with the compact dtypes the export job builds: the
sector and 6 social-location quasi-identifiers as int16 codes (4–13 categories, about 2 %
suppressed -7 and 2 % not answered -9), 50 scale items as int16 codes 1..5
(5 % "don't know" -8, 3 % not answered -9) and 3 scores as float64 with 4 %
NaN. Seeded, so runs are comparable. Pure: no Django, no database.

Every measurement runs in a fresh subprocess, which builds the frame and
then times one step:

- `validate`: checking the frame and building its compact copy (shared by
  every format);
- `csv`, `parquet`, `sav`, `dta`: one writer alone, after that copy;
- `all`: `write_microdata` as the job calls it (validation and the four
  files), then `write_datapackage` and `write_codebook`.

Peak memory is the process's resident set: the kernel's high-water mark
(VmHWM) is reset through /proc/self/clear_refs just before the step and read
just after it, and the figure is that peak minus the resident set before the
step (which holds the frame, and for a single writer the compact copy too).
That counts pyarrow's and readstat's own allocators, which tracemalloc does
not see. Wall time is the median of `--repeat` subprocesses.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exports import formats
from exports.formats import Dataset, Variable, write_codebook, write_datapackage, write_microdata

STEPS = ("validate", "csv", "parquet", "sav", "dta", "all")
SEED = 5
ITEMS = 50
QUASI_IDENTIFIERS = {
    "sector": 13,
    "gender": 6,
    "race_ethnicity": 7,
    "financial": 5,
    "pay_status": 4,
    "lived_experience": 4,
    "age": 6,
}
SCORES = 3
AGREEMENT = ("Strongly disagree", "Disagree", "Neither agree nor disagree", "Agree", "Strongly agree")
NOT_ANSWERED = {-9: {"en": "Not answered", "es": "Sin respuesta"}}
DONT_KNOW = {-8: {"en": "Don't know", "es": "No sabe"}}
SUPPRESSED = {-7: {"en": "Suppressed (disclosure control)", "es": "Suprimido (control de divulgación)"}}


def dataset() -> Dataset:
    """Return the synthetic export's metadata: 60 variables with labels in English and Spanish."""
    variables = [
        Variable(
            name=slug,
            label={"en": slug.replace("_", " ").capitalize(), "es": slug.replace("_", " ").capitalize()},
            kind="integer",
            value_labels={code: {"en": f"Option {code}", "es": f"Opción {code}"} for code in range(1, count + 1)},
            missing={**NOT_ANSWERED, **SUPPRESSED},
            group="Quasi-identifiers",
        )
        for slug, count in QUASI_IDENTIFIERS.items()
    ]
    variables += [
        Variable(
            name=f"item_{index:02d}",
            label={
                "en": f"Item {index}: partners share decisions about the coalition's work and resources fairly.",
                "es": f"Ítem {index}: los socios comparten de forma justa las decisiones sobre el trabajo.",
            },
            kind="integer",
            value_labels={code: {"en": text, "es": text} for code, text in enumerate(AGREEMENT, start=1)},
            missing={**NOT_ANSWERED, **DONT_KNOW},
            group="Items",
        )
        for index in range(1, ITEMS + 1)
    ]
    variables += [
        Variable(
            name=f"score_{index}",
            label={"en": f"Score {index}", "es": f"Puntuación {index}"},
            kind="number",
            decimals=2,
            group="Scores",
        )
        for index in range(1, SCORES + 1)
    ]
    return Dataset(
        name="coalition-pulse-export-bench",
        title={"en": "Benchmark export", "es": "Exportación de prueba"},
        description={"en": "Synthetic rows.", "es": "Filas sintéticas."},
        variables=variables,
        notes={"en": "Synthetic.", "es": "Sintético."},
    )


def synthetic_frame(rows: int, *, seed: int = SEED) -> pd.DataFrame:
    """Return a seeded frame of `rows` rows in the columns of `dataset()`."""
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}

    def with_missing(values: np.ndarray, shares: dict[int, float]) -> np.ndarray:
        draw = rng.random(len(values))
        low = 0.0
        for code, share in shares.items():
            values[(draw >= low) & (draw < low + share)] = code
            low += share
        return values

    for slug, count in QUASI_IDENTIFIERS.items():
        codes = rng.integers(1, count + 1, size=rows, dtype=np.int16)
        columns[slug] = with_missing(codes, {-7: 0.02, -9: 0.02})
    for index in range(1, ITEMS + 1):
        codes = rng.integers(1, 6, size=rows, dtype=np.int16)
        columns[f"item_{index:02d}"] = with_missing(codes, {-8: 0.05, -9: 0.03})
    for index in range(1, SCORES + 1):
        scores = np.clip(rng.normal(3.4, 0.8, size=rows), 1.0, 5.0)
        scores[rng.random(rows) < 0.04] = np.nan
        columns[f"score_{index}"] = scores
    return pd.DataFrame(columns, copy=False)


def _resident_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> None:
    # Writing 5 resets the peak resident set size (VmHWM) to the current one (Linux 4.0+).
    Path("/proc/self/clear_refs").write_text("5")


def measure(step: str, rows: int) -> dict[str, Any]:
    """Run one step on a fresh frame in this process and return its time, memory and file sizes."""
    data = dataset()
    frame = synthetic_frame(rows)
    frame_bytes = int(frame.memory_usage(deep=True).sum())
    with tempfile.TemporaryDirectory(prefix="bench-exports-") as temporary:
        directory = Path(temporary)
        result: dict[str, Any] = {"step": step, "rows": rows, "columns": frame.shape[1], "frame_bytes": frame_bytes}
        columns: dict[str, np.ndarray] = {}
        if step in ("csv", "parquet", "sav", "dta"):
            formats._check_dataset(data)
            columns = formats._compact_columns(data, frame)
            result["compact_bytes"] = sum(values.nbytes for values in columns.values())
        permutation = np.random.default_rng(SEED).permutation(rows)
        before = _resident_kib("VmRSS")
        _reset_peak()
        started = time.perf_counter()
        if step == "validate":
            formats._check_dataset(data)
            columns = formats._compact_columns(data, frame)
        elif step == "csv":
            formats._write_csv(data, columns, permutation, directory / "microdata.csv", chunk_rows=50_000)
        elif step == "parquet":
            formats._write_parquet(data, columns, permutation, directory / "microdata.parquet", chunk_rows=50_000)
        elif step == "sav":
            formats._write_sav(data, columns, permutation, directory / "microdata.sav")
        elif step == "dta":
            formats._write_dta(data, columns, permutation, directory / "microdata.dta")
        else:
            files = write_microdata(data, frame, directory, rng=np.random.default_rng(SEED))
            result["microdata_seconds"] = time.perf_counter() - started
            codebooks = write_codebook(data, directory, files=files)
            write_datapackage(data, directory, files={**files, **{f"codebook-{k}": p for k, p in codebooks.items()}})
        result["seconds"] = time.perf_counter() - started
        result["peak_extra_bytes"] = max(0, _resident_kib("VmHWM") - before) * 1024
        result["resident_before_bytes"] = before * 1024
        result["file_bytes"] = {path.name: path.stat().st_size for path in sorted(directory.iterdir())}
    return result


def run_in_subprocess(step: str, rows: int) -> dict[str, Any]:
    output = subprocess.run(
        [sys.executable, "-m", "bench.exports", "--child", step, "--rows", str(rows)],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    ).stdout
    result: dict[str, Any] = json.loads(output)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[20_000, 200_000])
    parser.add_argument("--repeat", type=int, default=3, help="subprocesses per step; the median time is shown")
    parser.add_argument("--steps", nargs="+", choices=STEPS, default=list(STEPS))
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        print(json.dumps(measure(arguments.child, arguments.rows[0])))
        return

    print(f"load average before: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")
    all_sizes: dict[str, int] = {}
    header = f"{'rows':>8} {'step':<9} {'seconds':>8} {'peak MiB':>9} {'× frame':>8} {'file MiB':>9}"
    for rows in arguments.rows:
        print(header)
        for step in arguments.steps:
            runs = [run_in_subprocess(step, rows) for _ in range(arguments.repeat)]
            seconds = statistics.median(run["seconds"] for run in runs)
            peak = max(run["peak_extra_bytes"] for run in runs)
            frame_bytes = runs[0]["frame_bytes"]
            sizes = runs[0]["file_bytes"]
            if step == "all":
                all_sizes = sizes
                file_bytes = sum(size for name, size in sizes.items() if name.startswith("microdata."))
            else:
                file_bytes = sum(sizes.values())
            print(
                f"{rows:>8} {step:<9} {seconds:>8.2f} {peak / 2**20:>9.1f} {peak / frame_bytes:>8.2f}"
                f" {file_bytes / 2**20:>9.1f}"
            )
            if step == "all":
                microdata_seconds = statistics.median(run["microdata_seconds"] for run in runs)
                print(f"{'':>8} {'(of which write_microdata':<25} {microdata_seconds:.2f} s)")
        resident = runs[0]["resident_before_bytes"]
        print(
            f"frame: {frame_bytes / 2**20:.1f} MiB ({runs[0]['columns']} columns); resident set before"
            f" `{step}`: {resident / 2**20:.0f} MiB (interpreter, libraries and the frame)"
        )
        if "all" in arguments.steps:
            print("files of `all`: " + ", ".join(f"{name} {size / 2**20:.2f} MiB" for name, size in all_sizes.items()))
        print()
    print(f"load average after: {' '.join(f'{load:.2f}' for load in os.getloadavg())}")


if __name__ == "__main__":
    main()
