"""Time `protect` (disclosure control, PRIVACY.md rules 1–4) on synthetic waves of realistic shape.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.disclosure_engine   # 200 … 200 000 respondents
    .venv/bin/python -m bench.disclosure_engine --respondents 200000 --seed 7 --concentration 5
    OPENBLAS_NUM_THREADS=1 .venv/bin/python -m bench.disclosure_engine --job --respondents 200 20000 200000

A wave: 13 sectors of unequal size (survivor-leaders is sensitive) and 6
social-location dimensions with 4–7 options whose distributions depend on
the sector (lived experience = yes is sensitive). Gender and race/ethnicity
are multi-select, reported as in `analytics.engine.breakdowns`: each option
(alone or with others, overlapping), `alone:<option>`, `more-than-one`. The
tables are the fixed ones of rule 5: the overall total, each sector, each
group, each sector × group, and an "everyone else" remainder of each of
those groups (the gap comparisons). Parents: the sectors, and each
dimension's non-overlapping groups, under the total; each row and column of
every sector × dimension table; every group with its remainder.

`--concentration` is the Dirichlet concentration of each sector's answer
distribution: low values give skewed answers (small cells, few atoms), high
values even answers (many atoms). On a shared two-core machine single-threaded
BLAS is several times faster and much steadier than two threads, hence the
`OPENBLAS_NUM_THREADS=1` above. `--job` audits instead the cells that the
analytics job builds (`analytics.engine.publication.disclosure_problem`) for
the synthetic wave of `bench.analytics_engine` (1 343 cells). Pure engine
code: no Django, no database.
"""

import argparse
import os
import time
from dataclasses import dataclass

import numpy as np

from analytics.engine.disclosure import Cell, Parent, Reason, cells_from_masks, protect
from analytics.engine.disclosure.joint_audit import Auditor

SECTOR_WEIGHTS = {
    "victim-services": 14,
    "law-enforcement": 12,
    "prosecution": 6,
    "health": 9,
    "social-services": 10,
    "education": 4,
    "faith": 5,
    "advocacy": 7,
    "community": 8,
    "funders": 4,
    "business": 2,
    "survivor-leaders": 8,
    "other": 1,
}
PREFER_NOT_TO_SAY = "prefer-not-to-say"
DIMENSIONS = {
    "gender": ("woman", "man", "non-binary", "transgender", PREFER_NOT_TO_SAY),
    "race-ethnicity": ("white", "latino", "black", "asian", "indigenous", "middle-eastern", PREFER_NOT_TO_SAY),
    "financial": ("comfortable", "okay", "getting-by", "difficult", PREFER_NOT_TO_SAY),
    "pay-status": ("paid", "volunteer", "mixed", PREFER_NOT_TO_SAY),
    "lived-experience": ("yes", "no", "unsure", PREFER_NOT_TO_SAY),
    "age": ("18-29", "30-44", "45-59", "60-plus", "unknown", PREFER_NOT_TO_SAY),
}
MULTI_SELECT = {"gender": 0.03, "race-ethnicity": 0.10}  # share choosing a second option
SENSITIVE_SECTOR = "survivor-leaders"
SENSITIVE_OPTION = ("lived-experience", "yes")


@dataclass(frozen=True)
class Wave:
    cells: list[Cell]
    parents: list[Parent]


@dataclass(frozen=True)
class _Group:
    id: str
    mask: np.ndarray
    is_sensitive: bool
    is_in_partition: bool  # the dimension's non-overlapping groups


def _answers(
    generator: np.random.Generator, *, sector: np.ndarray, sectors: list[str], concentration: float
) -> dict[str, np.ndarray]:
    """Return, per dimension, a respondents × options matrix of chosen options."""
    answers = {}
    for dimension, options in DIMENSIONS.items():
        base = np.ones(len(options))
        base[-1] = 0.15  # "prefer not to say" stays rare
        probabilities = generator.dirichlet(base * concentration, size=len(sectors))
        if dimension == SENSITIVE_OPTION[0]:
            probabilities[:, 0] = np.where(np.array(sectors) == SENSITIVE_SECTOR, 0.85, 0.04)
            probabilities /= probabilities.sum(axis=1, keepdims=True)
        cumulative = probabilities.cumsum(axis=1)[sector]
        first = (generator.random(sector.size)[:, None] > cumulative).sum(axis=1)
        chosen = np.zeros((sector.size, len(options)), dtype=bool)
        chosen[np.arange(sector.size), first] = True
        if dimension in MULTI_SELECT:
            second = generator.integers(0, len(options) - 1, size=sector.size)
            adds = (generator.random(sector.size) < MULTI_SELECT[dimension]) & (first != len(options) - 1)
            chosen[np.flatnonzero(adds), second[adds]] = True
        answers[dimension] = chosen
    return answers


def _groups(dimension: str, chosen: np.ndarray) -> list[_Group]:
    options = DIMENSIONS[dimension]
    sensitive_index = options.index(SENSITIVE_OPTION[1]) if dimension == SENSITIVE_OPTION[0] else None
    if dimension not in MULTI_SELECT:
        return [
            _Group(f"{dimension}={option}", chosen[:, index], index == sensitive_index, is_in_partition=True)
            for index, option in enumerate(options)
        ]
    count = chosen.sum(axis=1)
    groups = [
        _Group(f"{dimension}={option}", chosen[:, index], False, is_in_partition=False)
        for index, option in enumerate(options[:-1])
    ]
    groups += [
        _Group(f"{dimension}=alone:{option}", chosen[:, index] & (count == 1), False, is_in_partition=True)
        for index, option in enumerate(options[:-1])
    ]
    groups.append(_Group(f"{dimension}=more-than-one", count >= 2, False, is_in_partition=True))
    groups.append(_Group(f"{dimension}={PREFER_NOT_TO_SAY}", chosen[:, -1], False, is_in_partition=True))
    return groups


def synthetic_wave(*, respondents: int, seed: int, concentration: float = 1.5) -> Wave:
    """Return the candidate cells and parents of a synthetic wave."""
    generator = np.random.default_rng(seed)
    sectors = list(SECTOR_WEIGHTS)
    weights = np.array(list(SECTOR_WEIGHTS.values()), dtype=float)
    sector = generator.choice(len(sectors), size=respondents, p=weights / weights.sum())
    answers = _answers(generator, sector=sector, sectors=sectors, concentration=concentration)

    masks: dict[str, np.ndarray] = {"overall": np.ones(respondents, dtype=bool)}
    sensitive: set[str] = set()
    parents: list[Parent] = []
    reported: list[str] = []
    sector_ids = [f"sector={name}" for name in sectors]
    for position, sector_id in enumerate(sector_ids):
        masks[sector_id] = sector == position
        reported.append(sector_id)
    sensitive.add(f"sector={SENSITIVE_SECTOR}")
    parents.append(Parent(total_id="overall", child_ids=tuple(sector_ids)))
    for dimension, chosen in answers.items():
        groups = _groups(dimension, chosen)
        for group in groups:
            masks[group.id] = group.mask
            reported.append(group.id)
            if group.is_sensitive:
                sensitive.add(group.id)
        parents.append(Parent(total_id="overall", child_ids=tuple(g.id for g in groups if g.is_in_partition)))
        columns: dict[str, list[str]] = {group.id: [] for group in groups}
        for position, sector_id in enumerate(sector_ids):
            row = []
            for group in groups:
                cross_id = f"{sector_id}&{group.id}"
                masks[cross_id] = (sector == position) & group.mask
                reported.append(cross_id)
                columns[group.id].append(cross_id)
                if group.is_in_partition:
                    row.append(cross_id)
                if group.is_sensitive or sector_id == f"sector={SENSITIVE_SECTOR}":
                    sensitive.add(cross_id)
            parents.append(Parent(total_id=sector_id, child_ids=tuple(row)))
        parents.extend(Parent(total_id=group_id, child_ids=tuple(column)) for group_id, column in columns.items())
    for group_id in reported:
        masks[f"else:{group_id}"] = ~masks[group_id]
        parents.append(Parent(total_id="overall", child_ids=(group_id, f"else:{group_id}")))
    cells = cells_from_masks(masks, sensitive_ids=sensitive, total_ids={"overall"})
    return Wave(cells=cells, parents=parents)


def job_wave(*, respondents: int) -> Wave:
    """Return the cells and parents that the analytics job audits, for `bench.analytics_engine`'s synthetic wave."""
    from analytics.engine.breakdowns import group_sets
    from analytics.engine.publication import disclosure_problem
    from bench.analytics_engine import synthetic_instrument, synthetic_responses

    instrument = synthetic_instrument()
    responses = synthetic_responses(respondents, instrument)
    sectors = sorted(responses["sector"].dropna().unique())
    sets = group_sets(responses=responses, instrument=instrument, sectors=sectors)
    cells, parents = disclosure_problem(sets)
    return Wave(cells=cells, parents=parents)


def run(*, respondents: int, seed: int, concentration: float, job: bool = False) -> None:
    """Build one wave, time its atoms and `protect`, print one line."""
    started = time.perf_counter()
    if job:
        wave = job_wave(respondents=respondents)
    else:
        wave = synthetic_wave(respondents=respondents, seed=seed, concentration=concentration)
    built = time.perf_counter()
    atoms = Auditor(cells=wave.cells).atom_count
    atoms_done = time.perf_counter()
    result = protect(cells=wave.cells, parents=wave.parents)
    finished = time.perf_counter()
    counts = {reason: sum(1 for value in result.reasons.values() if value == reason) for reason in Reason}
    unverified = sum(1 for audit_round in result.rounds if not audit_round.attack.is_verified)
    print(
        f"{respondents:>11} | {len(wave.cells):>5} | {atoms:>6} | {atoms_done - built:7.2f} | "
        f"{finished - atoms_done:9.2f} | {len(result.rounds):>6} | {unverified:>10} | "
        f"{counts[Reason.PRIMARY]:>7} | {counts[Reason.COMPLEMENTARY]:>13} | {counts[Reason.AUDIT]:>5} | "
        f"{built - started:7.2f} | {result.spectral_margin:9.1e} | {result.unit_margin:7.1e}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--respondents", type=int, nargs="*", default=[200, 2_000, 20_000, 200_000])
    parser.add_argument("--seed", type=int, default=20261117)
    parser.add_argument("--concentration", type=float, default=1.5)
    parser.add_argument(
        "--job", action="store_true", help="audit the analytics job's cells for bench.analytics_engine's synthetic wave"
    )
    arguments = parser.parse_args()
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"seed {arguments.seed}, concentration {arguments.concentration}, OPENBLAS_NUM_THREADS {threads}")
    print(
        "respondents | cells |  atoms | atoms s | protect s | rounds | unverified | primary | complementary | audit"
        " | build s | eigen gap | unit gap"
    )
    for respondents in arguments.respondents:
        run(respondents=respondents, seed=arguments.seed, concentration=arguments.concentration, job=arguments.job)


if __name__ == "__main__":
    main()
